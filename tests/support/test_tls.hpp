#pragma once
// A throwaway certificate authority made at test time with OpenSSL, and
// server certificates it signs, so TLS tests need no files in the repo.
#include <filesystem>
#include <string>
#include <vector>

namespace bsky::test {

struct pem_pair {
    std::string certificate;
    std::string private_key;
};

class test_ca {
public:
    test_ca();
    ~test_ca();
    test_ca(const test_ca&) = delete;
    test_ca& operator=(const test_ca&) = delete;

    const std::string& certificate_pem() const noexcept { return ca_.certificate; }
    /// Writes the CA certificate to a temp file (for tls.ca_file) and returns its path.
    std::filesystem::path write_certificate(const std::filesystem::path& dir) const;
    /// A server certificate for DNS names and IP addresses ("127.0.0.1", "::1").
    pem_pair issue(const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses) const;

private:
    pem_pair ca_;
    void* key_ = nullptr;   // EVP_PKEY*
    void* cert_ = nullptr;  // X509*
};

}  // namespace bsky::test
