import Foundation

/// The system's `openssl s_server`, `s_time` and `s_client`, configured like our transport.
///
/// Same certificates (the PEM files `NodeIdentity` wrote), TLS 1.3 only, our cipher suites in our
/// order, our key groups, a client certificate required (`-Verify 1`) and no session tickets
/// (`-num_tickets 0`; we send none either).
struct OpenSSLTools {
    /// Our TLS 1.3 suites in our order (TLSContext), so both sides negotiate the same one.
    static let cipherSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    /// Our key exchange groups (TLSContext).
    static let groups = "X25519:P-256:P-384"

    let executable: String
    let environment: BenchEnvironment

    /// `openssl version`.
    func version() async throws -> String {
        let output = try outputFile()
        defer { remove(output) }
        let child = try Child.start(executable, ["version"], stdout: output)
        _ = await child.exit()
        return try String(contentsOfFile: output, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `openssl s_time -new` for `seconds` against an `s_server -www` (one connection at a time on both sides).
    ///
    /// The rate is the connections `s_time` reports divided by its wall time measured here: `s_time`
    /// stops at a whole-second boundary of the clock, so its own window is between `seconds - 1`
    /// and `seconds`.
    func handshakes(seconds: Int) async throws -> HandshakeRun {
        let port = try await environment.freePort()
        let server = try startServer(port: port, extra: ["-www"])
        defer { server.stop() }
        try await waitUntilListening(port: port)
        let output = try outputFile()
        defer { remove(output) }
        let start = ContinuousClock.now
        let child = try Child.start(
            executable,
            [
                "s_time", "-connect", "127.0.0.1:\(port)", "-new", "-time", "\(seconds)", "-tls1_3",
                "-ciphersuites", Self.cipherSuites, "-cert", environment.clientCertificatePath, "-key",
                environment.clientKeyPath,
            ], stdout: output)
        let exit = await child.exit()
        let text = try String(contentsOfFile: output, encoding: .utf8)
        guard exit.status == 0,
            let line = text.split(separator: "\n").first(where: { $0.contains("connections in") }),
            let count = line.split(separator: " ").first.flatMap({ Int($0) })
        else {
            throw BenchError("openssl s_time failed (exit \(exit.status)): \(text.suffix(400))")
        }
        return HandshakeRun(
            completed: count, served: count, seconds: (exit.end - start).seconds, negotiated: "see bulk (s_client)")
    }

    /// `head -c BYTES /dev/zero | openssl s_client` into an `s_server -naccept 1` writing to /dev/null.
    ///
    /// Timed from starting the client pipeline to the server's exit, which follows the client's
    /// close_notify after the last byte: handshake and close included, as for ours.
    func bulk(bytes: Int) async throws -> BulkRun {
        let port = try await environment.freePort()
        let server = try startServer(port: port, extra: ["-naccept", "1", "-quiet"])
        defer { server.stop() }
        try await waitUntilListening(port: port)
        let clientErrors = try outputFile()
        defer { remove(clientErrors) }
        let client =
            "head -c \(bytes) /dev/zero | '\(executable)' s_client -connect 127.0.0.1:\(port) -tls1_3 "
            + "-ciphersuites \(Self.cipherSuites) -groups \(Self.groups) -cert '\(environment.clientCertificatePath)' "
            + "-key '\(environment.clientKeyPath)' -brief -no_ign_eof"
        let start = ContinuousClock.now
        let sender = try Child.start("/bin/sh", ["-c", client], stderr: clientErrors)
        let sent = await sender.exit()
        let received = await server.child.exit()
        let messages = try String(contentsOfFile: clientErrors, encoding: .utf8)
        guard sent.status == 0, received.status == 0 else {
            throw BenchError(
                "openssl s_client → s_server failed (exit \(sent.status) / \(received.status)): \(messages.suffix(400))"
            )
        }
        let suite =
            messages.split(separator: "\n").first { $0.hasPrefix("Ciphersuite:") }
            .map { "TLSv1.3 " + $0.dropFirst("Ciphersuite:".count).trimmingCharacters(in: .whitespaces) }
            ?? "unknown"
        return BulkRun(bytes: bytes, seconds: (received.end - start).seconds, negotiated: suite)
    }

    private func startServer(port: Int, extra: [String]) throws -> RunningServer {
        // stdin is a pipe we keep open and never write: at EOF on stdin s_server would spin (-quiet)
        // or stop.
        let stdin = Pipe()
        let child = try Child.start(
            executable,
            [
                "s_server", "-accept", "127.0.0.1:\(port)", "-tls1_3", "-ciphersuites", Self.cipherSuites,
                "-groups", Self.groups, "-num_tickets", "0", "-cert", environment.serverCertificatePath, "-key",
                environment.serverKeyPath, "-CAfile", environment.clientCertificatePath, "-Verify", "1",
            ] + extra, stdin: stdin)
        return RunningServer(child: child, stdin: stdin)
    }

    /// Waits until the kernel lists a socket listening on 127.0.0.1:`port` (/proc/net/tcp, state 0A).
    ///
    /// Probing with a connection would use up `-naccept 1`.
    private func waitUntilListening(port: Int) async throws {
        let local = "0100007F:" + String(format: "%04X", port)
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let table = try String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)
            for line in table.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                if fields.count > 3, fields[1] == local, fields[3] == "0A" { return }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw BenchError("openssl s_server did not listen on 127.0.0.1:\(port) within 10 s")
    }

    private func outputFile() throws -> String {
        let path = environment.directory + "/out-\(UUID().uuidString)"
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw BenchError("cannot create \(path)")
        }
        return path
    }

    private func remove(_ path: String) {
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            // The whole directory is removed at the end.
        }
    }
}

/// An `s_server` we started, and the stdin pipe that keeps it from seeing EOF.
private struct RunningServer {
    let child: Child
    let stdin: Pipe

    /// Stops the server if it still runs (SIGTERM to its own pid).
    func stop() {
        if child.process.isRunning { child.process.terminate() }
    }
}

/// A child process and the moment it exited.
struct Child {
    struct Exit: Sendable {
        let status: Int32
        let end: ContinuousClock.Instant
    }

    let process: Process
    private let exits: AsyncStream<Exit>

    /// Starts `executable` with `arguments`; unset streams go to /dev/null.
    static func start(
        _ executable: String, _ arguments: [String], stdin: Pipe? = nil, stdout: String? = nil, stderr: String? = nil
    ) throws -> Child {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = stdin ?? FileHandle.nullDevice
        process.standardOutput = try stdout.map(handle) ?? FileHandle.nullDevice
        process.standardError = try stderr.map(handle) ?? FileHandle.nullDevice
        let (exits, sink) = AsyncStream.makeStream(of: Exit.self)
        process.terminationHandler = { process in
            sink.yield(Exit(status: process.terminationStatus, end: .now))
            sink.finish()
        }
        try process.run()
        return Child(process: process, exits: exits)
    }

    private static func handle(_ path: String) throws -> FileHandle {
        guard let handle = FileHandle(forWritingAtPath: path) else { throw BenchError("cannot write \(path)") }
        return handle
    }

    /// Waits for the process to exit.
    func exit() async -> Exit {
        for await exit in exits { return exit }
        return Exit(status: -1, end: .now)
    }
}
