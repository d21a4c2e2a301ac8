/* Codec for the wire protocol of include/zkauth_proto.h, compiled into
 * both the module and the daemon. No allocation: fixed-size structs. */
#include "zkauth_proto.h"

#include <string.h>

struct wbuf {
	uint8_t *p;
	size_t cap;
	size_t len;
	int bad;
};

struct rbuf {
	const uint8_t *p;
	size_t len;
	size_t off;
	int bad;
};

static void put_u32(struct wbuf *w, uint32_t v)
{
	if (w->bad || w->cap - w->len < 4) {
		w->bad = 1;
		return;
	}
	w->p[w->len++] = (uint8_t)(v >> 24);
	w->p[w->len++] = (uint8_t)(v >> 16);
	w->p[w->len++] = (uint8_t)(v >> 8);
	w->p[w->len++] = (uint8_t)v;
}

/* s must be terminated within max + 1 bytes. */
static void put_str(struct wbuf *w, const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (w->bad || n > max || w->cap - w->len < 2 + n) {
		w->bad = 1;
		return;
	}
	w->p[w->len++] = (uint8_t)(n >> 8);
	w->p[w->len++] = (uint8_t)n;
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static uint32_t get_u32(struct rbuf *r)
{
	uint32_t v;

	if (r->bad || r->len - r->off < 4) {
		r->bad = 1;
		return 0;
	}
	v = (uint32_t)r->p[r->off] << 24 | (uint32_t)r->p[r->off + 1] << 16 |
	    (uint32_t)r->p[r->off + 2] << 8 | (uint32_t)r->p[r->off + 3];
	r->off += 4;
	return v;
}

/* dst has room for max + 1 bytes. */
static void get_str(struct rbuf *r, char *dst, size_t max)
{
	size_t n;

	if (r->bad || r->len - r->off < 2) {
		r->bad = 1;
		return;
	}
	n = (size_t)r->p[r->off] << 8 | r->p[r->off + 1];
	r->off += 2;
	if (n > max || r->len - r->off < n || memchr(r->p + r->off, 0, n)) {
		r->bad = 1;
		return;
	}
	memcpy(dst, r->p + r->off, n);
	dst[n] = '\0';
	r->off += n;
}

static void begin(struct wbuf *w, uint8_t *buf, size_t cap, uint8_t type)
{
	w->p = buf;
	w->cap = cap;
	w->len = 0;
	w->bad = cap < ZK_HDR_LEN;
	if (w->bad)
		return;
	buf[0] = (uint8_t)(ZK_PROTO_MAGIC >> 8);
	buf[1] = (uint8_t)ZK_PROTO_MAGIC;
	buf[2] = ZK_PROTO_VERSION;
	buf[3] = type;
	w->len = ZK_HDR_LEN;
}

static ssize_t finish(struct wbuf *w)
{
	size_t body;

	if (w->bad)
		return -1;
	body = w->len - ZK_HDR_LEN;
	if (body > ZK_MAX_BODY)
		return -1;
	w->p[4] = (uint8_t)(body >> 24);
	w->p[5] = (uint8_t)(body >> 16);
	w->p[6] = (uint8_t)(body >> 8);
	w->p[7] = (uint8_t)body;
	return (ssize_t)w->len;
}

ssize_t zk_proto_encode_start(const struct zk_start *m, uint8_t *buf, size_t cap)
{
	struct wbuf w;

	begin(&w, buf, cap, ZK_MSG_START);
	put_str(&w, m->user, ZK_MAX_USER);
	put_str(&w, m->service, ZK_MAX_SERVICE);
	put_str(&w, m->rhost, ZK_MAX_RHOST);
	put_str(&w, m->tty, ZK_MAX_TTY);
	put_u32(&w, m->max_age);
	put_u32(&w, m->flags);
	return finish(&w);
}

ssize_t zk_proto_encode_challenge(const struct zk_challenge *m, uint8_t *buf, size_t cap)
{
	struct wbuf w;

	begin(&w, buf, cap, ZK_MSG_CHALLENGE);
	put_u32(&w, m->expires_in);
	put_str(&w, m->url, ZK_MAX_URL);
	put_str(&w, m->code, ZK_MAX_CODE);
	put_str(&w, m->host, ZK_MAX_HOST);
	return finish(&w);
}

ssize_t zk_proto_encode_wait(const struct zk_wait *m, uint8_t *buf, size_t cap)
{
	struct wbuf w;

	if (m->wait_ms > ZK_MAX_WAIT_MS)
		return -1;
	begin(&w, buf, cap, ZK_MSG_WAIT);
	put_u32(&w, m->wait_ms);
	return finish(&w);
}

ssize_t zk_proto_encode_verdict(const struct zk_verdict *m, uint8_t *buf, size_t cap)
{
	struct wbuf w;

	if (m->result > ZK_R_MAX)
		return -1;
	begin(&w, buf, cap, ZK_MSG_VERDICT);
	put_u32(&w, m->result);
	put_str(&w, m->user, ZK_MAX_USER);
	return finish(&w);
}

ssize_t zk_proto_encode_paste(const struct zk_paste *m, uint8_t *buf, size_t cap)
{
	struct wbuf w;

	begin(&w, buf, cap, ZK_MSG_PASTE);
	put_str(&w, m->text, ZK_MAX_PASTE);
	return finish(&w);
}

int zk_proto_parse_header(const uint8_t hdr[ZK_HDR_LEN], uint8_t *type, uint32_t *body_len)
{
	uint32_t magic = (uint32_t)hdr[0] << 8 | hdr[1];
	uint32_t len = (uint32_t)hdr[4] << 24 | (uint32_t)hdr[5] << 16 |
		       (uint32_t)hdr[6] << 8 | hdr[7];

	if (magic != ZK_PROTO_MAGIC || hdr[2] != ZK_PROTO_VERSION)
		return -1;
	if (hdr[3] < ZK_MSG_START || hdr[3] > ZK_MSG_PASTE)
		return -1;
	if (len > ZK_MAX_BODY)
		return -1;
	*type = hdr[3];
	*body_len = len;
	return 0;
}

static int done(const struct rbuf *r)
{
	return (r->bad || r->off != r->len) ? -1 : 0;
}

int zk_proto_decode_start(const uint8_t *body, size_t len, struct zk_start *out)
{
	struct rbuf r = { body, len, 0, 0 };
	struct zk_start m;

	memset(&m, 0, sizeof(m));
	get_str(&r, m.user, ZK_MAX_USER);
	get_str(&r, m.service, ZK_MAX_SERVICE);
	get_str(&r, m.rhost, ZK_MAX_RHOST);
	get_str(&r, m.tty, ZK_MAX_TTY);
	m.max_age = get_u32(&r);
	m.flags = get_u32(&r);
	if (done(&r) < 0 || m.flags != 0)
		return -1;
	*out = m;
	return 0;
}

int zk_proto_decode_challenge(const uint8_t *body, size_t len, struct zk_challenge *out)
{
	struct rbuf r = { body, len, 0, 0 };
	struct zk_challenge m;

	memset(&m, 0, sizeof(m));
	m.expires_in = get_u32(&r);
	get_str(&r, m.url, ZK_MAX_URL);
	get_str(&r, m.code, ZK_MAX_CODE);
	get_str(&r, m.host, ZK_MAX_HOST);
	if (done(&r) < 0)
		return -1;
	*out = m;
	return 0;
}

int zk_proto_decode_wait(const uint8_t *body, size_t len, struct zk_wait *out)
{
	struct rbuf r = { body, len, 0, 0 };
	struct zk_wait m;

	m.wait_ms = get_u32(&r);
	if (done(&r) < 0 || m.wait_ms > ZK_MAX_WAIT_MS)
		return -1;
	*out = m;
	return 0;
}

int zk_proto_decode_verdict(const uint8_t *body, size_t len, struct zk_verdict *out)
{
	struct rbuf r = { body, len, 0, 0 };
	struct zk_verdict m;

	memset(&m, 0, sizeof(m));
	m.result = get_u32(&r);
	get_str(&r, m.user, ZK_MAX_USER);
	if (done(&r) < 0 || m.result > ZK_R_MAX)
		return -1;
	*out = m;
	return 0;
}

int zk_proto_decode_paste(const uint8_t *body, size_t len, struct zk_paste *out)
{
	struct rbuf r = { body, len, 0, 0 };

	/* Straight into *out: the text is a secret, no copy on the stack. */
	get_str(&r, out->text, ZK_MAX_PASTE);
	if (done(&r) < 0) {
		memset(out->text, 0, sizeof(out->text));
		return -1;
	}
	return 0;
}
