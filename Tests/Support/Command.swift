import Foundation

/// The `spsync` binary the tests drive, as an operator would.
public enum SpsyncBinary {
    /// `SPSYNC_BIN` when set; else the `spsync` executable in the build folder the tests run from (or its parent).
    public static var path: String {
        if let b = ProcessInfo.processInfo.environment["SPSYNC_BIN"] { return b }
        // Tests run from the build folder that also holds the spsync executable.
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("spsync").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return dir.appendingPathComponent("spsync").path
    }
}

/// What a finished command left: its exit status and everything it wrote.
public struct CommandResult: Sendable {
    /// The exit status.
    public var status: Int32
    /// Standard output, decoded as UTF-8.
    public var out: String
    /// Standard error, decoded as UTF-8.
    public var err: String

    /// Makes a result from its parts (for commands run by other means, such as a shell script).
    public init(status: Int32, out: String, err: String) {
        self.status = status
        self.out = out
        self.err = err
    }
}

/// Runs `executable` with `arguments` to the end, capturing its standard output and error.
/// - Parameters:
///   - environment: variables set on top of (and overriding) this process's environment.
///   - standardInput: the command's standard input; `nil` leaves it this process's own.
@discardableResult
public func runCommand(
    executable: String, arguments: [String], environment: [String: String] = [:], standardInput: FileHandle? = nil
) throws -> CommandResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    if let standardInput { p.standardInput = standardInput }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CommandResult(
        status: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
}
