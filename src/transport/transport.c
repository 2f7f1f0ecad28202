/*-------------------------------------------------------------------------
 *
 * transport.c
 *	  Opening a device by path or URL scheme, and what every transport
 *	  shares: failure records, finishing short asynchronous transfers, the
 *	  page callbacks of the pure image code.  Frontend-safe.
 *
 * src/transport/transport.c
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include <stdarg.h>

#include "pgrac/bd_format.h"
#include "port/pg_iovec.h"
#include "pgrac/transport.h"

/*
 * Schemes: "file:" and a plain path are the file-descriptor transport.
 * Schemes the product will have but this build does not are refused by
 * name, so that a setting naming one fails with a message saying so
 * rather than "no such file".
 */
static const char *const planned_schemes[] = {"iscsi://", NULL};

bool
pgrac_transport_scheme_known(const char *spec)
{
	const char *colon = strchr(spec, ':');
	const char *slash = strchr(spec, '/');

	/* a path: no scheme before the first slash */
	if (colon == NULL || (slash != NULL && slash < colon))
		return true;
	return strncmp(spec, "file:", 5) == 0;
}

PgracTransport *
pgrac_transport_open(const char *spec, const PgracTransportOptions *options,
					 PgracTransportError *error)
{
	if (strncmp(spec, "file:", 5) == 0)
		return pgrac_fd_transport_open(spec + 5, options, error);
	if (!pgrac_transport_scheme_known(spec))
	{
		for (int i = 0; planned_schemes[i] != NULL; i++)
			if (strncmp(spec, planned_schemes[i], strlen(planned_schemes[i])) == 0)
			{
				error->kind = PGRAC_TE_UNSUPPORTED;
				error->errnum = 0;
				snprintf(error->message, sizeof(error->message),
						 "device \"%s\": this build of pgrac_storage has no %.*s transport",
						 spec, (int) strlen(planned_schemes[i]) - 3, planned_schemes[i]);
				return NULL;
			}
		error->kind = PGRAC_TE_INVALID;
		error->errnum = 0;
		snprintf(error->message, sizeof(error->message),
				 "device \"%s\": unknown transport scheme (known: a path, or file:PATH)", spec);
		return NULL;
	}
	return pgrac_fd_transport_open(spec, options, error);
}

void
pgrac_transport_close(PgracTransport *t)
{
	if (t == NULL)
		return;
	if (t->inner != NULL)
		pgrac_transport_close(t->inner);
	t->ops->close(t);
}

int
pgrac_transport_fail(PgracTransport *t, PgracTransportErrorKind kind,
					 int errnum, const char *fmt,...)
{
	va_list		ap;
	size_t		n;

	va_start(ap, fmt);
	vsnprintf(t->error.message, sizeof(t->error.message), fmt, ap);
	va_end(ap);
	n = strlen(t->error.message);
	if (kind == PGRAC_TE_IO || kind == PGRAC_TE_NOT_FOUND)
		snprintf(t->error.message + n, sizeof(t->error.message) - n, ": %s", strerror(errnum));
	t->error.kind = kind;
	t->error.errnum = errnum;
	return -1;
}

/* Skip done bytes of an iovec array into rest; returns rest's length. */
static int
iov_skip(const struct iovec *iov, int iovcnt, size_t done, struct iovec *rest)
{
	int			n = 0;

	for (int i = 0; i < iovcnt; i++)
	{
		if (done >= iov[i].iov_len)
		{
			done -= iov[i].iov_len;
			continue;
		}
		rest[n].iov_base = (char *) iov[i].iov_base + done;
		rest[n].iov_len = iov[i].iov_len - done;
		done = 0;
		n++;
	}
	return n;
}

int
pgrac_io_finish(PgracTransport *t, PgracIo *io)
{
	struct iovec rest[PG_IOV_MAX];
	int			restcnt;

	if (io->state != PGRAC_IO_DONE)
		return pgrac_transport_fail(t, PGRAC_TE_INVALID, 0,
									"I/O at offset %llu of device \"%s\" has not completed",
									(unsigned long long) io->offset, t->path);
	if (io->result == (int64) io->len)
		return 0;
	if (io->result < 0 && io->result != -EAGAIN && io->result != -EINTR)
		return pgrac_transport_fail(t, PGRAC_TE_IO, (int) -io->result,
									"could not %s %zu bytes at offset %llu of device \"%s\"",
									io->write ? "write" : "read", io->len,
									(unsigned long long) io->offset, t->path);
	if (io->iovcnt > PG_IOV_MAX)
		return pgrac_transport_fail(t, PGRAC_TE_INVALID, 0,
									"I/O at offset %llu of device \"%s\" has %d buffers (at most %d)",
									(unsigned long long) io->offset, t->path,
									io->iovcnt, PG_IOV_MAX);
	/* short, or to be retried: the rest synchronously */
	{
		size_t		done = io->result > 0 ? (size_t) io->result : 0;

		restcnt = iov_skip(io->iov, io->iovcnt, done, rest);
		if (io->write ? t->ops->writev(t, io->offset + done, rest, restcnt) :
			t->ops->readv(t, io->offset + done, rest, restcnt))
			return -1;
		io->result = (int64) io->len;
		return 0;
	}
}

bool
pgrac_transport_read_page(void *transport, uint64 address, uint8 *page)
{
	return pgrac_read((PgracTransport *) transport, address * BD_PAGE_SIZE, page, BD_PAGE_SIZE) == 0;
}

bool
pgrac_transport_write_page(void *transport, uint64 address, const uint8 *page)
{
	return pgrac_write((PgracTransport *) transport, address * BD_PAGE_SIZE, page, BD_PAGE_SIZE) == 0;
}
