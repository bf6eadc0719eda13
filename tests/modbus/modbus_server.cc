// modbus_test_server: a real Modbus TCP server (libmodbus server API) for the adapter tests.
//
//   modbus_test_server --port N
//
// Listens on 127.0.0.1:N, prints "ready" once listening, serves any number of clients (select
// loop) until SIGTERM/SIGKILL. Every 50 ms a tick changes some values. The map (0-based
// addresses) is the contract tests/ingest/modbus_adapter_test.cc relies on:
//
//   holding  0      int16   -1234
//   holding  1      uint16  54321
//   holding  2..3   int32   -123456789   ABCD (high word first)
//   holding  4..5   int32   -123456789   CDAB (low word first)
//   holding  6..7   float32 12.375       ABCD
//   holding  8..9   float32 -0.15625     CDAB
//   holding 10..11  uint32  4000000000   ABCD
//   holding 20..29  zero, writable (commands land here)
//   input    0      uint16  tick counter (+1 every 50 ms, wraps)
//   input    1      int16   215          (21.5 with scale 0.1)
//   coil     0/1    1/0;    coils 10..19 writable
//   discrete 0      1;      discrete 1 toggles every tick
// Addresses >= 100 do not exist (reads there get an "illegal data address" exception).
#include <modbus/modbus.h>
#include <sys/select.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

void Put32(uint16_t* r, uint32_t v, bool big) {
  r[big ? 0 : 1] = static_cast<uint16_t>(v >> 16);
  r[big ? 1 : 0] = static_cast<uint16_t>(v & 0xFFFF);
}

uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}

void Fill(modbus_mapping_t* m) {
  m->tab_registers[0] = static_cast<uint16_t>(static_cast<int16_t>(-1234));
  m->tab_registers[1] = 54321;
  Put32(m->tab_registers + 2, static_cast<uint32_t>(-123456789), true);
  Put32(m->tab_registers + 4, static_cast<uint32_t>(-123456789), false);
  Put32(m->tab_registers + 6, FloatBits(12.375f), true);
  Put32(m->tab_registers + 8, FloatBits(-0.15625f), false);
  Put32(m->tab_registers + 10, 4000000000u, true);
  m->tab_input_registers[1] = 215;
  m->tab_bits[0] = 1;
  m->tab_bits[1] = 0;
  m->tab_input_bits[0] = 1;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--port") port = std::atoi(argv[i + 1]);
  if (port <= 0) {
    std::fprintf(stderr, "usage: %s --port N\n", argv[0]);
    return 2;
  }
  modbus_t* ctx = modbus_new_tcp("127.0.0.1", port);
  modbus_mapping_t* map = modbus_mapping_new(100, 100, 100, 100);
  if (ctx == nullptr || map == nullptr) {
    std::fprintf(stderr, "modbus_test_server: allocation failed\n");
    return 1;
  }
  Fill(map);
  const int listener = modbus_tcp_listen(ctx, 8);
  if (listener < 0) {
    std::fprintf(stderr, "modbus_test_server: listen on %d: %s\n", port, modbus_strerror(errno));
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);

  fd_set all;
  FD_ZERO(&all);
  FD_SET(listener, &all);
  int max_fd = listener;
  uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
  auto next_tick = std::chrono::steady_clock::now();
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (now >= next_tick) {
      next_tick = now + std::chrono::milliseconds(50);
      ++map->tab_input_registers[0];
      map->tab_input_bits[1] ^= 1;
    }
    fd_set ready = all;
    auto wait_us = std::chrono::duration_cast<std::chrono::microseconds>(next_tick - now).count();
    timeval tv{0, static_cast<suseconds_t>(wait_us > 0 ? wait_us : 0)};
    int n = select(max_fd + 1, &ready, nullptr, nullptr, &tv);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("select");
      return 1;
    }
    for (int fd = 0; fd <= max_fd && n > 0; ++fd) {
      if (!FD_ISSET(fd, &ready)) continue;
      --n;
      if (fd == listener) {
        int s = listener;
        int client = modbus_tcp_accept(ctx, &s);  // also makes `client` the ctx's socket
        if (client >= 0) {
          FD_SET(client, &all);
          if (client > max_fd) max_fd = client;
        }
        continue;
      }
      modbus_set_socket(ctx, fd);
      int rc = modbus_receive(ctx, query);
      if (rc > 0) {
        modbus_reply(ctx, query, rc, map);
      } else if (rc == -1) {  // closed by the client or broken
        close(fd);
        FD_CLR(fd, &all);
      }
    }
  }
}
