#pragma once
// The YAML configuration (SPEC §4) as plain structs with documented defaults.
// config/bsky-backfill.yaml documents every key; keep the two in step.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <map>
#include <string>
#include <vector>

#include "log/log.hpp"

namespace bsky::config {

enum class output_kind { sqlite, jsonl, nats };
enum class output_format { pipeline, raw };
enum class time_range_mode { tag, filter };

struct nats_params {
    /// One server or a cluster's, comma-separated; the client fails over between them.
    std::string url = "nats://127.0.0.1:4222";
    std::string stream = "BACKFILL";
    std::string subject_prefix = "backfill.records";
    std::uint32_t replicas = 1;  ///< of the stream when this creates it (1, 3 or 5 on a cluster)
    /// The server drops a message whose Nats-Msg-Id it stored this recently: a DID
    /// redone within it (after a failed ack or a crash) adds nothing twice.
    double duplicate_window_seconds = 3600;
    std::uint32_t max_pending_acks = 4096;  ///< publishes in flight before a publish waits
    double ack_timeout_seconds = 10;        ///< a publish not acknowledged by then is sent again
    std::uint32_t publish_attempts = 6;     ///< sends of one message before its DID is given back
    double connect_timeout_seconds = 30;    ///< how long start-up waits for a server
    std::string user, password, token;
    std::filesystem::path creds_file;  ///< a NATS .creds file (JWT and nkey seed)
    std::filesystem::path tls_ca_file, tls_cert_file, tls_key_file;  ///< any set: TLS to the servers
    /// intake.kind nats: the shared work stream of DIDs (its own stream: JetStream
    /// refuses a subject that two streams cover, and {prefix}.> covers {prefix}.dids).
    std::string work_stream = "BACKFILL_DIDS";
    std::string work_subject = "backfill.dids";
    std::string work_consumer = "backfill-workers";
    double work_ack_wait_seconds = 300;  ///< redelivered to another daemon after this without progress
    std::uint32_t work_max_deliveries = 5;  ///< then the DID goes to {work_subject}.dead with the reason
};

struct output_params {
    output_kind kind = output_kind::sqlite;
    output_format format = output_format::pipeline;
    std::filesystem::path dir = "/var/lib/bsky-backfill/output";
    std::uint32_t batch_size = 50;               ///< records per queue row / message batch
    std::uint64_t jsonl_rotate_bytes = 256ull << 20;
    nats_params nats;
};

struct time_range_params {
    std::string start = "2024-09-27-00:00:00";  ///< pipeline format, UTC, inclusive
    std::string end = "2024-12-02-00:00:00";    ///< pipeline format, UTC, inclusive
    time_range_mode mode = time_range_mode::tag;
    std::chrono::sys_seconds start_time{};      ///< parsed from start
    std::chrono::sys_seconds end_time{};        ///< parsed from end
};

struct bucket_params {
    double requests = 2700;   ///< tokens added per window
    double window_seconds = 300;
    double burst = 100;       ///< bucket capacity
};

struct rate_limit_params {
    bucket_params pds{};
    /// 20 lookups a second: a 10,000-DID list resolves in minutes, not the
    /// 100 minutes of 500 per 300 s; the PLC's own 429s and headers still rule.
    bucket_params plc{.requests = 6000, .window_seconds = 300, .burst = 50};
    double default_pause_seconds = 60;  ///< pause after a 429 without rate-limit headers
    double max_pause_seconds = 3600;    ///< no pause a server's headers ask for lasts longer
    std::uint32_t max_concurrent_fetches = 32;
    std::uint32_t max_concurrent_per_host = 4;
};

struct retry_params {
    std::uint32_t max_attempts = 5;
    double backoff_base_seconds = 1;
    double backoff_cap_seconds = 120;
};

struct limit_params {
    std::uint64_t max_car_bytes = 4ull << 30;
    std::uint64_t max_block_bytes = 2ull << 20;
    std::uint64_t spill_threshold_bytes = 64ull << 20;
    std::uint64_t max_did_document_bytes = 64ull << 10;
    std::uint32_t max_cbor_depth = 64;
    /// Per HTTP client (PDS, PLC): idle keep-alive connections are closed to stay under it.
    /// Unset (0): twice rate_limits.max_concurrent_fetches.
    std::uint32_t max_open_connections = 0;
};

struct timeout_params {
    double connect_seconds = 10;
    double tls_handshake_seconds = 10;
    double response_headers_seconds = 30;
    double idle_body_seconds = 60;  ///< no body bytes for this long aborts the fetch
    double total_fetch_seconds = 3600;     ///< one response, headers to last byte (a retryable failure past it)
    double idle_connection_seconds = 30;   ///< an unused keep-alive connection is closed after this
};

struct resolve_params {
    double cache_ttl_seconds = 3600;
    std::uint32_t cache_max_entries = 100000;
    /// Resolved DIDs queued for their PDS host ahead of the fetches: the window
    /// that lets every host work at once whatever the order of the list.
    std::uint32_t lookahead_dids = 10000;
    std::uint32_t concurrent_lookups = 16;  ///< DID documents fetched at once
    /// host name -> IP address to connect to instead of asking DNS (like curl
    /// --resolve); TLS still checks the certificate against the host name.
    std::map<std::string, std::string> hosts;
    /// The PLC directory's /export (JSON lines of operations), indexed into
    /// {state_dir}/plc-export.db: did:plc DIDs it names need no lookup. Empty: none.
    std::filesystem::path plc_export;
};

enum class intake_kind { spool, nats };

struct config {
    /// Where the daemon takes DIDs from: its spool directory, or the shared NATS work stream.
    intake_kind intake = intake_kind::spool;
    std::string plc_url = "https://plc.directory";
    std::filesystem::path spool_dir = "/var/lib/bsky-backfill/spool";
    std::filesystem::path state_dir = "/var/lib/bsky-backfill/state";
    output_params output;
    std::vector<std::string> record_types{"block", "follow", "like", "post", "reply", "repost"};
    time_range_params time_range;
    rate_limit_params rate_limits;
    retry_params retries;
    limit_params limits;
    timeout_params timeouts;
    resolve_params resolve;
    bool verify_signatures = true;
    bool incremental_sync = false;  ///< use getRepo?since={rev} when a previous rev is stored
    bool allow_private_addresses = false;
    bool allow_insecure_http = false;  ///< accept http:// PDS endpoints and https -> http redirects
    std::filesystem::path tls_ca_file;  ///< added to the system trust store when set
    std::string metrics_listen = "127.0.0.1:9464";
    /// The daemon's SIGTERM drain: DIDs still in flight after this are abandoned
    /// (back to pending); keep it below the unit's TimeoutStopSec.
    double stop_timeout_seconds = 60;
    log::level log_level = log::level::info;
};

/// A configuration error; what() reads "FILE:LINE: dotted.key: reason".
class config_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Defaults with time_range parsed: what a run without a config file uses.
config defaults();

/// Loads and validates; throws config_error naming the file, line and key.
config load_file(const std::filesystem::path& path);
/// Same, from text; `source_name` stands for the file name in messages.
config load_string(const std::string& yaml_text, const std::string& source_name = "<config>");

/// Checks cross-field rules (start <= end, known record types...); throws config_error.
void validate(config& cfg, const std::string& source_name = "<config>");

/// Dotted keys whose change between two configs only takes effect after a restart.
std::vector<std::string> keys_needing_restart(const config& running, const config& reloaded);

/// The bounds of limits.spill_threshold_bytes, which `inspect --spill-threshold` shares.
struct byte_range {
    std::uint64_t min, max;
};
inline constexpr byte_range spill_threshold_range{64ull << 10, 1ull << 40};

/// Parses "64MiB", "1.5GB", "4096" (bytes); false when malformed.
bool parse_byte_size(std::string_view text, std::uint64_t& out) noexcept;

}  // namespace bsky::config
