#!/usr/bin/env python3
"""Helpers for the per-app VPN tests (tests/e2e/test_apps_*.sh).

serve IP PORT LOG SECS          accept TCP connections for SECS seconds; per connection append
                                "PEER_IP NAME" to LOG, answer "ok", keep it open until the peer closes
connect IP PORT NAME HOLD TMO   connect (timeout TMO s), send NAME, wait for "ok", hold the
                                connection HOLD seconds; exit 0 on "ok", 1 otherwise
"""
import socket
import sys
import threading
import time


def serve(ip, port, log, secs):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.listen(16)
    s.settimeout(0.5)
    lock = threading.Lock()

    def handle(c, peer):
        c.settimeout(secs)
        try:
            name = c.recv(100).decode().strip()
            with lock, open(log, "a") as f:
                f.write(f"{peer[0]} {name}\n")
            c.sendall(b"ok\n")
            while c.recv(100):
                pass
        except OSError:
            pass
        finally:
            c.close()

    end = time.time() + secs
    while time.time() < end:
        try:
            c, peer = s.accept()
        except socket.timeout:
            continue
        threading.Thread(target=handle, args=(c, peer), daemon=True).start()


def connect(ip, port, name, hold, tmo):
    try:
        c = socket.create_connection((ip, port), timeout=tmo)
        c.sendall(name.encode() + b"\n")
        ok = c.recv(10).startswith(b"ok")
    except OSError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 1
    print(f"{name}: {'ok' if ok else 'no answer'}", file=sys.stderr)
    time.sleep(hold)
    c.close()
    return 0 if ok else 1


if __name__ == "__main__":
    a = sys.argv[1:]
    if a and a[0] == "serve":
        serve(a[1], int(a[2]), a[3], float(a[4]))
    elif a and a[0] == "connect":
        sys.exit(connect(a[1], int(a[2]), a[3], float(a[4]), float(a[5])))
    else:
        sys.exit(__doc__)
