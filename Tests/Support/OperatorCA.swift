import Foundation

/// Runs the system `openssl` command line, failing with its stderr if it exits non-zero.
public func openssl(_ arguments: [String], in directory: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    process.arguments = arguments
    process.currentDirectoryURL = URL(fileURLWithPath: directory)
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let stderr = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        struct OpenSSLFailed: Error, CustomStringConvertible {
            let description: String
        }
        throw OpenSSLFailed(
            description: "openssl \(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
                + String(decoding: stderr, as: UTF8.self))
    }
}

/// A network CA made as an operator would make one: P-256 keys and certificates from the system
/// `openssl` command line, node certificates issued from a CSR with an extfile naming the SAN URI.
public struct OperatorCA: Sendable {
    /// Holds `ca.key`, `ca.pem` and the serial file.
    public let directory: String
    /// The CA certificate in PEM form: what `ca_file` in node.toml points at.
    public var certificatePath: String { directory + "/ca.pem" }

    /// Makes a CA key and self-signed CA certificate (CA:TRUE, keyCertSign) in `directory`.
    public static func make(in directory: String, name: String = "Riverside network CA") throws -> OperatorCA {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = """
            [req]
            distinguished_name = dn
            x509_extensions = v3_ca
            prompt = no
            [dn]
            CN = \(name)
            [v3_ca]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash

            """
        try config.write(toFile: directory + "/ca.cnf", atomically: true, encoding: .utf8)
        try openssl(
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key"], in: directory)
        try openssl(
            [
                "req", "-x509", "-new", "-config", "ca.cnf", "-key", "ca.key", "-sha256", "-days", "30", "-out",
                "ca.pem",
            ],
            in: directory)
        return OperatorCA(directory: directory)
    }

    /// Makes `key.pem` (P-256) and a CSR for `nodeID` in `nodeDirectory`, and issues `cert.pem` from
    /// it: CN and SAN URI `spsync:node/<ID>`, as `spsync init` names a node, signed by this CA.
    public func issue(
        nodeID: String, into nodeDirectory: String, extendedKeyUsage: String = "serverAuth,clientAuth"
    ) throws {
        try FileManager.default.createDirectory(atPath: nodeDirectory, withIntermediateDirectories: true)
        let request = """
            [req]
            distinguished_name = dn
            prompt = no
            [dn]
            CN = \(nodeID)

            """
        try request.write(toFile: nodeDirectory + "/req.cnf", atomically: true, encoding: .utf8)
        let extensions = """
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,digitalSignature
            extendedKeyUsage = \(extendedKeyUsage)
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid
            subjectAltName = URI:spsync:node/\(nodeID)

            """
        try extensions.write(toFile: nodeDirectory + "/node.ext", atomically: true, encoding: .utf8)
        try openssl(
            ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "key.pem"],
            in: nodeDirectory)
        try openssl(["req", "-new", "-config", "req.cnf", "-key", "key.pem", "-out", "node.csr"], in: nodeDirectory)
        try openssl(
            [
                "x509", "-req", "-in", "node.csr", "-CA", certificatePath, "-CAkey", directory + "/ca.key",
                "-CAcreateserial", "-CAserial", directory + "/ca.srl", "-days", "30", "-sha256",
                "-extfile", "node.ext", "-out", "cert.pem",
            ], in: nodeDirectory)
    }

}
