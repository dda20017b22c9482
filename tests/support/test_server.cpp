#include "support/test_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace bsky::test {

namespace {

// Minimal blocking byte transport over a socket, optionally TLS.
struct transport {
    int fd;
    SSL* ssl = nullptr;
    bool write_all(const char* data, std::size_t n) {
        while (n > 0) {
            long w = ssl ? SSL_write(ssl, data, static_cast<int>(n)) : ::send(fd, data, n, MSG_NOSIGNAL);
            if (w <= 0) return false;
            data += w;
            n -= static_cast<std::size_t>(w);
        }
        return true;
    }
    long read_some(char* buf, std::size_t n) {
        return ssl ? SSL_read(ssl, buf, static_cast<int>(n)) : ::recv(fd, buf, n, 0);
    }
};

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

class socket_exchange final : public exchange {
public:
    explicit socket_exchange(transport& t) : t_(t) {}
    bool closed = false;
    bool keep_alive = true;

    void write_raw(const std::string& bytes) override {
        if (!t_.write_all(bytes.data(), bytes.size())) closed = true;
    }
    void reset() override {
        linger l{1, 0};
        ::setsockopt(t_.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        ::shutdown(t_.fd, SHUT_RDWR);
        closed = true;
    }
    void respond(const response_spec& spec) override {
        std::string body = spec.gzip ? gzip_bytes(spec.body) : spec.body;
        std::ostringstream head;
        head << "HTTP/1.1 " << spec.status << " X\r\n";
        for (const auto& [k, v] : spec.headers) head << k << ": " << v << "\r\n";
        if (spec.gzip) head << "Content-Encoding: gzip\r\n";
        if (spec.close) head << "Connection: close\r\n";
        if (spec.chunked) head << "Transfer-Encoding: chunked\r\n";
        else head << "Content-Length: " << body.size() << "\r\n";
        head << "\r\n";
        write_raw(head.str());
        std::size_t step = spec.chunk_size ? spec.chunk_size : std::max<std::size_t>(body.size(), 1);
        for (std::size_t pos = 0; pos < body.size() && !closed; pos += step) {
            if (spec.delay.count() && pos > 0) std::this_thread::sleep_for(spec.delay);
            auto piece = body.substr(pos, step);
            if (spec.chunked) {
                std::ostringstream c;
                c << std::hex << piece.size() << "\r\n" << piece << "\r\n";
                write_raw(c.str());
            } else {
                write_raw(piece);
            }
        }
        if (spec.chunked && !closed) write_raw("0\r\n\r\n");
        if (spec.close) {
            ::shutdown(t_.fd, SHUT_WR);
            closed = true;
        }
    }

private:
    transport& t_;
};

}  // namespace

std::string gzip_bytes(const std::string& plain) {
    z_stream s{};
    deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&s, plain.size()) + 32, '\0');
    s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
    s.avail_in = static_cast<uInt>(plain.size());
    s.next_out = reinterpret_cast<Bytef*>(out.data());
    s.avail_out = static_cast<uInt>(out.size());
    deflate(&s, Z_FINISH);
    out.resize(s.total_out);
    deflateEnd(&s);
    return out;
}

test_server::test_server(handler h, std::optional<pem_pair> tls, std::string address)
    : handler_(std::move(h)), tls_(std::move(tls)), address_(std::move(address)) {
    // OpenSSL writes to the socket with write(2): a client that hung up must not kill the test.
    ::signal(SIGPIPE, SIG_IGN);
    bool v6 = address_.find(':') != std::string::npos;
    listen_fd_ = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (v6) {
        sockaddr_in6 a{};
        a.sin6_family = AF_INET6;
        ::inet_pton(AF_INET6, address_.c_str(), &a.sin6_addr);
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind ::1");
        socklen_t len = sizeof a;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin6_port);
    } else {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        ::inet_pton(AF_INET, address_.c_str(), &a.sin_addr);
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind " + address_);
        socklen_t len = sizeof a;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
    }
    ::listen(listen_fd_, 128);
    if (tls_) {
        SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
        BIO* cert_bio = BIO_new_mem_buf(tls_->certificate.data(), static_cast<int>(tls_->certificate.size()));
        X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
        BIO* key_bio = BIO_new_mem_buf(tls_->private_key.data(), static_cast<int>(tls_->private_key.size()));
        EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
        SSL_CTX_use_certificate(ctx, cert);
        SSL_CTX_use_PrivateKey(ctx, key);
        X509_free(cert);
        EVP_PKEY_free(key);
        BIO_free(cert_bio);
        BIO_free(key_bio);
        ssl_context_ = std::shared_ptr<void>(ctx, [](void* p) { SSL_CTX_free(static_cast<SSL_CTX*>(p)); });
    }
    acceptor_ = std::thread([this] { accept_loop(); });
}

test_server::~test_server() { stop(); }

void test_server::stop() {
    if (stopping_.exchange(true)) return;
    if (acceptor_.joinable()) acceptor_.join();
    {
        std::lock_guard lock(mutex_);
        for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& w : workers_)
        if (w.joinable()) w.join();
    for (int fd : open_fds_) ::close(fd);
    ::close(listen_fd_);
}

std::string test_server::origin(const std::string& host) const {
    std::string h = host.empty() ? address_ : host;
    if (h.find(':') != std::string::npos) h = "[" + h + "]";
    return std::string(tls_ ? "https://" : "http://") + h + ":" + std::to_string(port_);
}

std::vector<request_info> test_server::requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
}

void test_server::accept_loop() {
    while (!stopping_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        int index = ++connections_;
        std::lock_guard lock(mutex_);
        open_fds_.push_back(fd);
        workers_.emplace_back([this, fd, index] { serve(fd, index); });
    }
}

void test_server::serve(int fd, int index) {
    transport t{fd};
    if (ssl_context_) {
        t.ssl = SSL_new(static_cast<SSL_CTX*>(ssl_context_.get()));
        SSL_set_fd(t.ssl, fd);
        if (SSL_accept(t.ssl) <= 0) {
            SSL_free(t.ssl);
            return;  // the client refused our certificate, or gave up
        }
    }
    std::string pending;
    char buf[16384];
    for (;;) {
        // Read one request head (GET only: no bodies).
        std::size_t end;
        while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
            long n = t.read_some(buf, sizeof buf);
            if (n <= 0) goto done;
            pending.append(buf, static_cast<std::size_t>(n));
        }
        {
            request_info req;
            req.received = std::chrono::steady_clock::now();
            req.connection = index;
            std::istringstream head(pending.substr(0, end));
            pending.erase(0, end + 4);
            std::string line;
            std::getline(head, line);
            std::istringstream first(line);
            first >> req.method >> req.target;
            while (std::getline(head, line)) {
                if (!line.empty() && line.back() == '\r') line.pop_back();
                auto colon = line.find(':');
                if (colon == std::string::npos) continue;
                auto value = line.substr(colon + 1);
                while (!value.empty() && value.front() == ' ') value.erase(0, 1);
                req.headers[lower(line.substr(0, colon))] = value;
            }
            {
                std::lock_guard lock(mutex_);
                requests_.push_back(req);
            }
            socket_exchange ex(t);
            handler_(req, ex);
            if (ex.closed || stopping_) break;
        }
    }
done:
    if (t.ssl) {
        SSL_shutdown(t.ssl);
        SSL_free(t.ssl);
    }
    ::shutdown(fd, SHUT_RDWR);
}

}  // namespace bsky::test
