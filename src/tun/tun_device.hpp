// Umbrella header for users of the TUN module: the PacketDevice seam and the kernel TunDevice.
#pragma once
#include "tun/packet_device.hpp"
#include "tun/tun_linux.hpp"
