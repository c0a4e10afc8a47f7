#ifndef SPSYNC_COPENSSL_SHIM_H
#define SPSYNC_COPENSSL_SHIM_H

/* The system OpenSSL 3 headers, plus static inline wrappers for what Swift's ClangImporter
 * cannot see: function-like macros and constants built from casts (SSL_OP_*). A systemLibrary
 * target cannot hold .c files, so the wrappers live here as static inline functions. */

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>

/* ---- SSL_CTX configuration (macros over SSL_CTX_ctrl) ---- */
static inline int spsync_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline int spsync_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}
static inline long spsync_SSL_CTX_set_session_cache_off(SSL_CTX *ctx) {
    return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}
static inline int spsync_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}

/* ---- SSL_OP_* constants (SSL_OP_BIT(n) casts are invisible to Swift) ---- */
static inline uint64_t spsync_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
static inline uint64_t spsync_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t spsync_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t spsync_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
static inline uint64_t spsync_SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION(void) {
    return SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION;
}

/* ---- Keys ---- */
/* EVP_EC_gen is a macro over the variadic EVP_PKEY_Q_keygen, which Swift cannot call. */
static inline EVP_PKEY *spsync_EVP_EC_gen_P256(void) { return EVP_EC_gen("P-256"); }

/* ---- Subject alternative names (sk_GENERAL_NAME_* are macros) ---- */
static inline GENERAL_NAMES *spsync_GENERAL_NAMES_new(void) { return sk_GENERAL_NAME_new_null(); }
static inline int spsync_GENERAL_NAMES_push(GENERAL_NAMES *names, GENERAL_NAME *name) {
    return sk_GENERAL_NAME_push(names, name);
}
static inline int spsync_GENERAL_NAMES_count(const GENERAL_NAMES *names) { return sk_GENERAL_NAME_num(names); }
static inline GENERAL_NAME *spsync_GENERAL_NAMES_value(const GENERAL_NAMES *names, int index) {
    return sk_GENERAL_NAME_value(names, index);
}
/* The SAN extension of a certificate, or NULL; free with GENERAL_NAMES_free. */
static inline GENERAL_NAMES *spsync_X509_get_subject_alt_names(const X509 *cert) {
    return (GENERAL_NAMES *)X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
}
/* The URI of a GEN_URI general name (as bytes and length), or NULL for any other kind. */
static inline const unsigned char *spsync_GENERAL_NAME_uri(const GENERAL_NAME *name, int *length) {
    if (name == NULL || name->type != GEN_URI || name->d.uniformResourceIdentifier == NULL) {
        return NULL;
    }
    *length = ASN1_STRING_length(name->d.uniformResourceIdentifier);
    return ASN1_STRING_get0_data(name->d.uniformResourceIdentifier);
}

/* ---- Misc macros ---- */
static inline void spsync_OPENSSL_free(void *pointer) { OPENSSL_free(pointer); }
static inline int spsync_SSL_set_app_data(SSL *ssl, void *data) { return SSL_set_app_data(ssl, data); }
static inline void *spsync_SSL_get_app_data(const SSL *ssl) { return SSL_get_app_data(ssl); }
/* Bytes buffered in a memory BIO (BIO_pending is a macro). */
static inline size_t spsync_BIO_pending(BIO *bio) { return BIO_ctrl_pending(bio); }

#endif
