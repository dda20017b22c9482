#pragma once
// Runs one coroutine to completion on an io_context (tests only).
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace bsky::test {

template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> work) {
    auto future = boost::asio::co_spawn(io, std::move(work), boost::asio::use_future);
    io.restart();
    io.run();
    return future.get();
}

}  // namespace bsky::test
