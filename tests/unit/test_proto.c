/* The wire protocol codec: round trips, limits, and malformed frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "zkauth_proto.h"

static void start_roundtrip(void **state)
{
	struct zk_start in, out;
	uint8_t buf[ZK_MAX_FRAME];
	uint8_t type;
	uint32_t blen;
	ssize_t n;

	memset(&in, 0, sizeof(in));
	strcpy(in.user, "alice");
	strcpy(in.service, "sshd");
	strcpy(in.rhost, "203.0.113.9");
	strcpy(in.tty, "ssh");
	in.max_age = 30;
	n = zk_proto_encode_start(&in, buf, sizeof(buf));
	assert_true(n > (ssize_t)ZK_HDR_LEN);
	assert_int_equal(zk_proto_parse_header(buf, &type, &blen), 0);
	assert_int_equal(type, ZK_MSG_START);
	assert_int_equal(blen, (uint32_t)n - ZK_HDR_LEN);
	assert_int_equal(zk_proto_decode_start(buf + ZK_HDR_LEN, blen, &out), 0);
	assert_string_equal(out.user, "alice");
	assert_string_equal(out.service, "sshd");
	assert_string_equal(out.rhost, "203.0.113.9");
	assert_string_equal(out.tty, "ssh");
	assert_int_equal(out.max_age, 30);
}

static void challenge_and_verdict_roundtrip(void **state)
{
	struct zk_challenge c, c2;
	struct zk_verdict v, v2;
	struct zk_wait w = { 25000 }, w2;
	uint8_t buf[ZK_MAX_FRAME];
	ssize_t n;

	memset(&c, 0, sizeof(c));
	c.expires_in = 299;
	memset(c.url, 'u', ZK_MAX_URL); /* the longest URL allowed */
	strcpy(c.code, "K7F-2QX");
	strcpy(c.host, "web-1");
	n = zk_proto_encode_challenge(&c, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(zk_proto_decode_challenge(buf + ZK_HDR_LEN, (size_t)n - ZK_HDR_LEN, &c2), 0);
	assert_int_equal(strlen(c2.url), ZK_MAX_URL);
	assert_string_equal(c2.code, "K7F-2QX");
	assert_int_equal(c2.expires_in, 299);

	memset(&v, 0, sizeof(v));
	v.result = ZK_R_OK;
	strcpy(v.user, "alice");
	n = zk_proto_encode_verdict(&v, buf, sizeof(buf));
	assert_int_equal(zk_proto_decode_verdict(buf + ZK_HDR_LEN, (size_t)n - ZK_HDR_LEN, &v2), 0);
	assert_int_equal(v2.result, ZK_R_OK);
	assert_string_equal(v2.user, "alice");

	n = zk_proto_encode_wait(&w, buf, sizeof(buf));
	assert_int_equal(n, ZK_HDR_LEN + 4);
	assert_int_equal(zk_proto_decode_wait(buf + ZK_HDR_LEN, 4, &w2), 0);
	assert_int_equal(w2.wait_ms, 25000);
}

static void encoder_limits(void **state)
{
	struct zk_start s;
	struct zk_wait w = { ZK_MAX_WAIT_MS + 1 };
	struct zk_verdict v = { ZK_R_MAX + 1, "" };
	uint8_t buf[ZK_MAX_FRAME];

	memset(&s, 0, sizeof(s));
	memset(s.user, 'a', sizeof(s.user)); /* no terminator within the field */
	assert_int_equal(zk_proto_encode_start(&s, buf, sizeof(buf)), -1);
	memset(&s, 0, sizeof(s));
	strcpy(s.user, "alice");
	assert_int_equal(zk_proto_encode_start(&s, buf, 10), -1); /* does not fit */
	assert_int_equal(zk_proto_encode_wait(&w, buf, sizeof(buf)), -1);
	assert_int_equal(zk_proto_encode_verdict(&v, buf, sizeof(buf)), -1);
}

static void bad_headers(void **state)
{
	uint8_t h[ZK_HDR_LEN] = { 0x5a, 0x4b, ZK_PROTO_VERSION, ZK_MSG_WAIT, 0, 0, 0, 4 };
	uint8_t type;
	uint32_t len;

	assert_int_equal(zk_proto_parse_header(h, &type, &len), 0);
	h[0] = 0x00;
	assert_int_equal(zk_proto_parse_header(h, &type, &len), -1);
	h[0] = 0x5a;
	h[2] = ZK_PROTO_VERSION + 1;
	assert_int_equal(zk_proto_parse_header(h, &type, &len), -1);
	h[2] = ZK_PROTO_VERSION;
	h[3] = 99;
	assert_int_equal(zk_proto_parse_header(h, &type, &len), -1);
	h[3] = 0;
	assert_int_equal(zk_proto_parse_header(h, &type, &len), -1);
	h[3] = ZK_MSG_WAIT;
	h[6] = 0x10;
	h[7] = 0x01; /* 4097 > ZK_MAX_BODY */
	assert_int_equal(zk_proto_parse_header(h, &type, &len), -1);
}

static void bad_bodies(void **state)
{
	struct zk_start s;
	struct zk_verdict v;
	struct zk_wait w;
	uint8_t buf[ZK_MAX_FRAME];
	uint8_t body[ZK_MAX_BODY];
	size_t blen;
	ssize_t n;

	memset(&s, 0, sizeof(s));
	strcpy(s.user, "alice");
	n = zk_proto_encode_start(&s, buf, sizeof(buf));
	blen = (size_t)n - ZK_HDR_LEN;
	memcpy(body, buf + ZK_HDR_LEN, blen);

	/* every truncation fails */
	for (size_t i = 0; i < blen; i++)
		assert_int_equal(zk_proto_decode_start(body, i, &s), -1);
	/* trailing garbage fails */
	body[blen] = 0;
	assert_int_equal(zk_proto_decode_start(body, blen + 1, &s), -1);
	/* a NUL inside a string fails */
	body[3] = 0; /* 'l' of alice */
	assert_int_equal(zk_proto_decode_start(body, blen, &s), -1);
	body[3] = 'l';
	/* a length over the field maximum fails even if the bytes are there */
	body[0] = 0x01;
	body[1] = 0x00; /* 256 > ZK_MAX_USER */
	assert_int_equal(zk_proto_decode_start(body, blen, &s), -1);
	body[0] = 0;
	body[1] = 5;
	/* nonzero flags are refused: no silent extension */
	body[blen - 1] = 1;
	assert_int_equal(zk_proto_decode_start(body, blen, &s), -1);

	/* verdict with an unknown result */
	{
		uint8_t vb[6] = { 0, 0, 0, 99, 0, 0 };
		memset(&v, 0x55, sizeof(v));
		assert_int_equal(zk_proto_decode_verdict(vb, sizeof(vb), &v), -1);
		assert_int_equal(v.result, 0x55555555u); /* untouched on failure */
	}
	/* wait over the maximum */
	{
		uint8_t wb[4] = { 0, 0x01, 0, 0 }; /* 65536 ms */
		assert_int_equal(zk_proto_decode_wait(wb, sizeof(wb), &w), -1);
	}
}

static void paste_roundtrip_and_limits(void **state)
{
	struct zk_paste p, q;
	uint8_t buf[ZK_MAX_FRAME];
	ssize_t n;

	memset(&p, 0, sizeof(p));
	strcpy(p.text, "http://127.0.0.1:8443/zkauth/callback?code=abc&state=xyz");
	n = zk_proto_encode_paste(&p, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(buf[3], ZK_MSG_PASTE);
	assert_int_equal(zk_proto_decode_paste(buf + ZK_HDR_LEN, (size_t)n - ZK_HDR_LEN, &q), 0);
	assert_string_equal(q.text, p.text);
	/* the longest paste fits a frame; one byte more is refused */
	memset(p.text, 'c', ZK_MAX_PASTE);
	p.text[ZK_MAX_PASTE] = '\0';
	assert_true(zk_proto_encode_paste(&p, buf, sizeof(buf)) > 0);
	{
		uint8_t body[2 + ZK_MAX_PASTE + 1];

		body[0] = (uint8_t)((ZK_MAX_PASTE + 1) >> 8);
		body[1] = (uint8_t)(ZK_MAX_PASTE + 1);
		memset(body + 2, 'c', ZK_MAX_PASTE + 1);
		assert_int_equal(zk_proto_decode_paste(body, sizeof(body), &q), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(start_roundtrip),
		cmocka_unit_test(challenge_and_verdict_roundtrip),
		cmocka_unit_test(encoder_limits),
		cmocka_unit_test(bad_headers),
		cmocka_unit_test(bad_bodies),
		cmocka_unit_test(paste_roundtrip_and_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
