/*-------------------------------------------------------------------------
 *
 * byte_order.h
 *	  Little-endian field access for the product's on-disk formats.
 *
 * Every format the product writes (device metadata, WAL record payloads,
 * the checkpoint journal, state files under pg_pgrac/) is little-endian
 * whatever the host, so that a device or a data directory moved between
 * machines decodes the same.  Fields are read and written a byte at a
 * time, which also makes unaligned fields safe.
 *
 * include/pgrac/byte_order.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGRAC_BYTE_ORDER_H
#define PGRAC_BYTE_ORDER_H

static inline void
pgrac_put16(uint8 *p, uint16 v)
{
	p[0] = (uint8) v;
	p[1] = (uint8) (v >> 8);
}

static inline void
pgrac_put32(uint8 *p, uint32 v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8) (v >> (8 * i));
}

static inline void
pgrac_put64(uint8 *p, uint64 v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8) (v >> (8 * i));
}

static inline uint16
pgrac_get16(const uint8 *p)
{
	return (uint16) (p[0] | (p[1] << 8));
}

static inline uint32
pgrac_get32(const uint8 *p)
{
	uint32		v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static inline uint64
pgrac_get64(const uint8 *p)
{
	uint64		v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#endif							/* PGRAC_BYTE_ORDER_H */
