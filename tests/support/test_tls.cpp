#include "support/test_tls.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <stdexcept>

namespace bsky::test {

namespace {

EVP_PKEY* new_key() {
    EVP_PKEY* key = EVP_EC_gen("prime256v1");
    if (!key) throw std::runtime_error("EVP_EC_gen failed");
    return key;
}

std::string pem_of(X509* cert) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

std::string pem_of(EVP_PKEY* key) {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
    if (!ext) throw std::runtime_error("bad extension " + value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
}

X509* new_cert(EVP_PKEY* key, const std::string& common_name, long serial) {
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 7 * 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
    return cert;
}

}  // namespace

test_ca::test_ca() {
    auto* key = new_key();
    auto* cert = new_cert(key, "bsky-backfill test CA", 1);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    add_extension(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    X509_sign(cert, key, EVP_sha256());
    key_ = key;
    cert_ = cert;
    ca_ = {pem_of(cert), pem_of(key)};
}

test_ca::~test_ca() {
    X509_free(static_cast<X509*>(cert_));
    EVP_PKEY_free(static_cast<EVP_PKEY*>(key_));
}

std::filesystem::path test_ca::write_certificate(const std::filesystem::path& dir) const {
    // Unique per process: CTest runs test cases of one binary in parallel processes.
    static std::atomic<int> counter{0};
    auto path = dir / ("test-ca-" + std::to_string(::getpid()) + "-" + std::to_string(++counter) + ".pem");
    std::ofstream(path) << ca_.certificate;
    return path;
}

pem_pair test_ca::issue(const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses) const {
    static long serial = 100;
    auto* key = new_key();
    auto* cert = new_cert(key, dns_names.empty() ? ip_addresses.at(0) : dns_names[0], ++serial);
    auto* ca_cert = static_cast<X509*>(cert_);
    X509_set_issuer_name(cert, X509_get_subject_name(ca_cert));
    std::string san;
    for (const auto& d : dns_names) san += (san.empty() ? "" : ",") + std::string("DNS:") + d;
    for (const auto& ip : ip_addresses) san += (san.empty() ? "" : ",") + std::string("IP:") + ip;
    add_extension(cert, ca_cert, NID_subject_alt_name, san);
    add_extension(cert, ca_cert, NID_ext_key_usage, "serverAuth");
    X509_sign(cert, static_cast<EVP_PKEY*>(key_), EVP_sha256());
    pem_pair out{pem_of(cert), pem_of(key)};
    X509_free(cert);
    EVP_PKEY_free(key);
    return out;
}

}  // namespace bsky::test
