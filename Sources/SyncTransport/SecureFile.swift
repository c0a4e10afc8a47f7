#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Whole-file reads and exclusive-create writes with POSIX calls, so a key file is born with its final mode.
enum SecureFile {
    /// The bytes of a file together with the permission bits it had when opened.
    struct Contents {
        var bytes: [UInt8]
        var mode: UInt32
    }

    /// Creates `path` (which must not exist) with `mode`, writes `bytes` and syncs them to disk.
    ///
    /// The mode is given to `open(2)` itself, so the file never exists with wider permissions
    /// (the umask can only narrow it); nothing is chmod-ed afterwards.
    static func create(_ path: String, bytes: [UInt8], mode: mode_t) throws(IdentityError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        if fd < 0 {
            let code = errno
            if code == EEXIST {
                throw IdentityError(
                    .alreadyExists,
                    "\(path) already exists; refusing to overwrite a node identity (move it away first "
                        + "if you really mean to replace this node's key)")
            }
            throw IdentityError(.fileAccess, "cannot create \(path): \(errorText(code))")
        }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { raw in
                write(fd, raw.baseAddress! + written, raw.count - written)
            }
            if result < 0 {
                let code = errno
                if code == EINTR { continue }
                throw IdentityError(.fileAccess, "cannot write \(path): \(errorText(code))")
            }
            written += result
        }
        if fsync(fd) != 0 {
            throw IdentityError(.fileAccess, "cannot sync \(path) to disk: \(errorText(errno))")
        }
    }

    /// Reads all of `path`, reporting the permission bits of the opened file (no check-then-open race).
    static func readAll(_ path: String) throws(IdentityError) -> Contents {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            throw IdentityError(.fileAccess, "cannot open \(path): \(errorText(errno))")
        }
        defer { close(fd) }
        var status = stat()
        if fstat(fd, &status) != 0 {
            throw IdentityError(.fileAccess, "cannot stat \(path): \(errorText(errno))")
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { raw in
                read(fd, raw.baseAddress, raw.count)
            }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw IdentityError(.fileAccess, "cannot read \(path): \(errorText(code))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            // Key and certificate files are a few kilobytes; anything huge is not ours.
            if bytes.count > 1024 * 1024 {
                throw IdentityError(.invalidPEM, "\(path) is larger than 1 MiB; it is not a key or certificate")
            }
        }
        return Contents(bytes: bytes, mode: UInt32(status.st_mode) & 0o7777)
    }

    /// Removes `path`, ignoring a missing file (cleanup after a failed generate).
    static func remove(_ path: String) {
        _ = unlink(path)
    }

    /// Whether something exists at `path` (without following a final symlink).
    static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
