// swift-tools-version:6.2
import PackageDescription

/// Our own targets build in Swift 6 language mode with every warning an error: NIO's
/// `@preconcurrency` APIs otherwise turn real data races into mere warnings.
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "spsync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "spsync", targets: ["spsync"]),
        .executable(name: "spsync-bench", targets: ["spsync-bench"]),
        .executable(name: "spsync-sim", targets: ["spsync-sim"]),
        .executable(name: "spsync-faults", targets: ["spsync-faults"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", exact: "0.6.0"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
    ],
    targets: [
        // The system's OpenSSL 3 (libssl-dev), so distribution security updates and the operator's
        // OpenSSL policy apply without a rebuild.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // Pure model and merge rules. No I/O, no clock reads, no randomness; imports nothing of ours.
        .target(name: "SyncCore", swiftSettings: strict),
        // The cryptography of origin signatures over the system OpenSSL: SHA-256, ECDSA P-256
        // verification, the certificates of key bindings.
        .target(name: "SyncCrypto", dependencies: ["COpenSSL", "SyncCore"], swiftSettings: strict),
        // SQLite persistence: migrations, change log, atomic idempotent apply, audit log.
        .target(
            name: "SyncStore",
            dependencies: ["SyncCore", "SyncCrypto", .product(name: "GRDB", package: "GRDB.swift")],
            exclude: ["Migrations"],
            swiftSettings: strict
        ),
        // The use cases of a node's people (referrals, services) with their authority rules: the one
        // place field writes are built. The CLI, the demo, the simulator and the benchmarks call it.
        .target(name: "SyncDomain", dependencies: ["SyncCore", "SyncStore"], swiftSettings: strict),
        // Reports for commissioners (tables, CSV, HTML with SVG charts) and the directory as Open Referral HSDS.
        .target(name: "SyncReport", dependencies: ["SyncCore", "SyncStore", "SyncDomain"], swiftSettings: strict),
        // Wire framing (length, type byte, payload), messages and the session state machine. No sockets.
        .target(
            name: "SyncProtocol",
            dependencies: ["SyncCore", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            swiftSettings: strict
        ),
        // The deterministic simulator: seeded clock and network, nodes on real SQLite stores signing with
        // in-memory keys (SyncTransport's `NodeIdentity`).
        .target(
            name: "SyncSimulation",
            dependencies: ["SyncCore", "SyncStore", "SyncDomain", "SyncProtocol", "SyncTransport"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "spsync-sim",
            dependencies: ["SyncSimulation", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict
        ),
        // Protocol benchmark (not a test): sessions in memory between two SQLite stores.
        .executableTarget(
            name: "spsync-protocol-bench",
            dependencies: [
                "SyncCore", "SyncStore", "SyncDomain", "SyncProtocol", "SyncSimulation", "SyncTransport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        // TLS 1.3 mutual authentication over SwiftNIO with the system OpenSSL: node identity and
        // certificates, pinning trust, the TLS handler, listener and dialer.
        .target(
            name: "SyncTransport",
            dependencies: [
                "COpenSSL", "SyncCrypto", "SyncProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The node: configuration, schedules, peer sessions over TLS, the daemon and its control socket.
        .target(
            name: "SyncNode",
            dependencies: [
                "SyncCore", "SyncStore", "SyncProtocol", "SyncTransport",
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                // The metrics API only: the daemon counts; the backend is chosen by the binary.
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // The daemon's HTTP side: /metrics (Prometheus text, swift-metrics over swift-prometheus),
        // /healthz and /readyz, served by Hummingbird 2 on a loopback address ([http] in node.toml).
        .target(
            name: "SyncHTTP",
            dependencies: [
                "SyncCore", "SyncCrypto", "SyncStore", "SyncDomain", "SyncReport", "SyncProtocol", "SyncNode",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "spsync",
            dependencies: [
                "SyncCore", "SyncStore", "SyncDomain", "SyncReport", "SyncTransport", "SyncNode", "SyncHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            swiftSettings: strict
        ),
        // Benchmarks are not tests: run on demand, print figures (see README, Performance).
        .executableTarget(
            name: "spsync-bench",
            dependencies: [
                "SyncCore", "SyncStore", "SyncDomain", "SyncNode", "SyncTransport", "SyncSimulation",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        // The fault campaign (not a test, not in CI): real daemons killed mid-sync and run out of disk,
        // driven through the `spsync` binary beside it (scripts/fault-campaign.sh, docs/reliability.md).
        .executableTarget(
            name: "spsync-faults",
            dependencies: [
                "SyncCore", "SyncStore", "SyncDomain", "SyncNode", "SyncTransport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // TLS benchmark (not a test): our listener and dialer against openssl s_server, s_time and s_client.
        .executableTarget(
            name: "spsync-tls-bench",
            dependencies: [
                "SyncProtocol", "SyncTransport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Helpers shared by the test targets: a temporary folder, fixed identities, record ids and signing keys,
        // and a runner for the spsync binary and other commands. Not a test target itself, and no product.
        .target(
            name: "SpsyncTestSupport", dependencies: ["SyncCore", "SyncStore", "SyncTransport"], path: "Tests/Support",
            swiftSettings: strict),
        .testTarget(name: "SyncCoreTests", dependencies: ["SyncCore"], swiftSettings: strict),
        .testTarget(
            name: "SyncStoreTests",
            dependencies: [
                "SpsyncTestSupport", "SyncCore", "SyncStore", .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SyncProtocolTests",
            dependencies: [
                "SpsyncTestSupport", "SyncCore", "SyncCrypto", "SyncStore", "SyncProtocol", "SyncSimulation",
            ],
            swiftSettings: strict
        ),
        // SyncNode without daemons: node.toml and schedules (regression inputs of the fuzzers among them).
        .testTarget(
            name: "SyncNodeTests",
            dependencies: [
                "SpsyncTestSupport", "SyncCore", "SyncNode", "SyncProtocol",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "SyncDomainTests",
            dependencies: ["SpsyncTestSupport", "SyncCore", "SyncStore", "SyncDomain", "SyncReport", "SyncSimulation"],
            swiftSettings: strict),
        .testTarget(
            name: "SyncSimulationTests", dependencies: ["SpsyncTestSupport", "SyncSimulation"], swiftSettings: strict),
        .testTarget(
            name: "SyncTransportTests",
            dependencies: [
                "COpenSSL", "SyncProtocol", "SyncTransport", "SpsyncTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The spsync binary as an operator runs it; GRDB only to make another program's database to offer it.
        .testTarget(
            name: "CLITests",
            dependencies: ["spsync", "SpsyncTestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strict),
        // Real daemons on loopback, driven through the spsync binary.
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "spsync", "SpsyncTestSupport", "SyncCore", "SyncCrypto", "SyncStore", "SyncDomain", "SyncNode",
                "SyncTransport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)

// libFuzzer targets (Fuzz/, scripts/fuzz.sh): declared only when SPSYNC_FUZZ=1, so a plain `swift build`
// neither builds nor links them. Each has no main of its own: `--sanitize fuzzer` links libFuzzer's, which
// calls the target's `LLVMFuzzerTestOneInput`. scripts/fuzz.sh builds them in their own scratch path.
if Context.environment["SPSYNC_FUZZ"] == "1" {
    package.targets.append(
        .target(
            name: "FuzzSupport", dependencies: ["SyncCore"], path: "Fuzz/Sources/FuzzSupport", swiftSettings: strict))
    let fuzzers: [(name: String, dependencies: [Target.Dependency])] = [
        ("fuzz-frame-decoder", ["SyncProtocol"]),
        ("fuzz-wire-message", ["SyncCore", "SyncStore", "SyncProtocol"]),
        ("fuzz-field-write-body", ["SyncCore", "SyncCrypto"]),
        ("fuzz-node-config", ["SyncCore", "SyncNode"]),
        (
            "fuzz-tls-server",
            [
                "SyncTransport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
    ]
    for fuzzer in fuzzers {
        package.targets.append(
            .executableTarget(
                name: fuzzer.name, dependencies: ["FuzzSupport"] + fuzzer.dependencies,
                path: "Fuzz/Sources/\(fuzzer.name)",
                swiftSettings: strict))
    }
}
