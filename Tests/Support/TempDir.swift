import Foundation

/// A temporary folder removed when the test ends (when the last reference to it goes).
public final class TempDir {
    /// The folder's absolute path, made on `init`.
    public let path: String

    /// Makes a fresh folder under the system temporary directory.
    /// - Parameter prefix: the start of the folder's name (a UUID follows), so that leftovers name their tests.
    public init(prefix: String = "spsync-test-") {
        path = NSTemporaryDirectory() + prefix + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// The path of `name` inside the folder (nothing is made).
    public func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
