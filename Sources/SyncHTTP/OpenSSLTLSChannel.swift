import HummingbirdCore
import Logging
import NIOCore
import SyncTransport

/// The HTTP listener's TLS on the system OpenSSL (`TLSHandler`, as peers use, with no client
/// certificate asked for): the handler goes first in each connection's pipeline, then HTTP/1.1.
struct OpenSSLTLSChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value

    let base: Base
    let context: TLSContext

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(TLSHandler(context: context, role: .server))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 over TLS on the system OpenSSL, with `identity`'s certificate and no client certificates.
    static func http1(tls context: TLSContext) -> HTTPServerBuilder {
        .init { responder in
            OpenSSLTLSChannel(base: HTTP1Channel(responder: responder), context: context)
        }
    }
}
