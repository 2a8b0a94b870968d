#pragma once
// CRC-32 (ISO-HDLC: the checksum of zip entries and PNG chunks).

#include <cstddef>
#include <cstdint>

namespace attnlab {

// The CRC-32 of `size` bytes, continuing from `crc` (0 to start): crc32(b, m, crc32(a, n)) is
// the CRC of a followed by b.
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace attnlab
