// The benches' Socket.IO server (benches/echo/peers.rs), written the way Socket.IO's
// documentation writes one: `echo` acknowledges with what it was sent, `drive` calls the
// client's `echo` with `emitWithAck`, one call after the other, until the client goes,
// `join` joins the room `room`, and `say` emits what it was sent to the room as `msg`;
// `join` and `say` are acknowledged once done.
// Loads the package named by its first argument; prints its port; ends when stdin closes.
"use strict";

const http = require("node:http");
const { Server } = require(process.argv[2]);

const server = http.createServer();
const io = new Server(server, { serveClient: false });

io.on("connection", (socket) => {
  socket.on("echo", (data, ack) => ack(data));
  socket.on("join", (ack) => {
    socket.join("room");
    ack();
  });
  socket.on("say", (data, ack) => {
    io.to("room").emit("msg", data);
    ack();
  });
  socket.on("drive", async (data) => {
    while (socket.connected) {
      try {
        await socket.timeout(60000).emitWithAck("echo", data);
      } catch {
        return;
      }
    }
  });
});

server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
