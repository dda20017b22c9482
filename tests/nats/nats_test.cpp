// The NATS parts that need no server: the work stream's decision, and the
// start-up error when no server answers (a real socket on loopback).
#include "nats/connection.hpp"
#include "nats/work_stream.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

using namespace bsky;

TEST(NatsWork, EndedDidsAreAcknowledgedFailedOnesRetriedThenDead) {
    EXPECT_EQ(nats::decide(true, 1, 5), nats::work_decision::ack);
    EXPECT_EQ(nats::decide(true, 5, 5), nats::work_decision::ack);
    EXPECT_EQ(nats::decide(false, 1, 5), nats::work_decision::retry);
    EXPECT_EQ(nats::decide(false, 4, 5), nats::work_decision::retry);
    EXPECT_EQ(nats::decide(false, 5, 5), nats::work_decision::dead);
    EXPECT_EQ(nats::decide(false, 1, 1), nats::work_decision::dead);
}

TEST(NatsConnection, NoServerIsAnErrorNamingItAndWhatToDo) {
    // A port that was free a moment ago: nothing listens there.
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    auto port = probe.local_endpoint().port();
    probe.close();
    config::nats_params params;
    params.url = "nats://127.0.0.1:" + std::to_string(port);
    params.connect_timeout_seconds = 0;
    try {
        nats::connection conn(params, log::null_logger());
        FAIL() << "connected to nothing";
    } catch (const nats::error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("connecting to NATS at " + params.url), std::string::npos) << what;
        EXPECT_NE(what.find("start the server (with JetStream: nats-server -js) or fix output.nats.url"), std::string::npos) << what;
    }
}

TEST(NatsConnection, AnEmptyServerListIsAnError) {
    config::nats_params params;
    params.url = " , ";
    EXPECT_THROW(nats::connection(params, log::null_logger()), nats::error);
}
