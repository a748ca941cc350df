// The native uWebSockets servers the echo bench measures the layer against (see
// ../uws.rs): `server echo` sends every message back; `server room` relays every text
// message to every socket, the sender included (one topic). Listens on 127.0.0.1 at the
// port in TW_BENCH_PORT (0 or unset: any), prints the port, and exits when stdin closes.
//
// Built outside the repository by build.sh, against checkouts of uWebSockets and
// uSockets that are never committed here.

#include "App.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>
#include <unistd.h>

namespace {

struct PerSocket {};

constexpr std::string_view kRoom = "bench";

uWS::App::WebSocketBehavior<PerSocket> behavior() {
    uWS::App::WebSocketBehavior<PerSocket> b;
    b.compression = uWS::DISABLED;
    b.maxPayloadLength = 64 << 20;
    b.maxBackpressure = 64 << 20;
    b.closeOnBackpressureLimit = false;
    b.idleTimeout = 0;
    b.sendPingsAutomatically = false;
    return b;
}

}  // namespace

int main(int argc, char **argv) {
    const bool room = argc > 1 && std::strcmp(argv[1], "room") == 0;
    const char *port_env = std::getenv("TW_BENCH_PORT");
    const int port = port_env ? std::atoi(port_env) : 0;

    // Exit when stdin closes: the bench stops a server by closing its stdin.
    std::thread([] {
        char byte;
        while (read(0, &byte, 1) > 0) {
        }
        _exit(0);
    }).detach();

    uWS::App app;
    auto ws = behavior();
    if (room) {
        ws.open = [](auto *socket) { socket->subscribe(kRoom); };
        uWS::App *handle = &app;
        ws.message = [handle](auto *, std::string_view message, uWS::OpCode op) {
            if (op == uWS::OpCode::TEXT) {
                handle->publish(kRoom, message, op, false);
            }
        };
    } else {
        ws.message = [](auto *socket, std::string_view message, uWS::OpCode op) {
            socket->send(message, op, false);
        };
    }
    app.ws<PerSocket>("/ws", std::move(ws))
        .listen("127.0.0.1", port, [](auto *listen_socket) {
            if (!listen_socket) {
                std::fprintf(stderr, "listen failed\n");
                std::exit(1);
            }
            std::printf("%d\n", us_socket_local_port(0, (us_socket_t *) listen_socket));
            std::fflush(stdout);
        })
        .run();
    return 0;
}
