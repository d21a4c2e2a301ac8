/*
 * The IPC frames of include/zkauth_proto.h, as both ends read them: the
 * daemon reads START and WAIT from any local process that may connect, the
 * module reads CHALLENGE and VERDICT from the socket.
 *
 * Input: an 8-byte header, then a body. The header goes through
 * zk_proto_parse_header; the body through every decoder, whatever the
 * header said (a peer picks the type). A body a decoder accepts must
 * re-encode to exactly the same frame: the codec has one encoding per
 * message, so anything else means decoder and encoder disagree.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zkauth_proto.h"

/* frame = header for (type, len) + body, byte for byte. */
static void check_frame(const uint8_t *frame, ssize_t flen, uint8_t type, const uint8_t *body,
			size_t len)
{
	uint8_t t = 0;
	uint32_t l = 0;

	if (flen < 0 || (size_t)flen != ZK_HDR_LEN + len ||
	    zk_proto_parse_header(frame, &t, &l) != 0 || t != type || l != len ||
	    memcmp(frame + ZK_HDR_LEN, body, len) != 0) {
		fprintf(stderr, "fuzz_ipc: type %u body of %zu bytes decoded but re-encodes differently\n",
			(unsigned)type, len);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frame[ZK_MAX_FRAME];
	const uint8_t *body;
	struct zk_start st;
	struct zk_challenge ch;
	struct zk_wait wt;
	struct zk_verdict vd;
	struct zk_paste ps;
	uint8_t type = 0;
	uint32_t blen = 0;
	size_t len;

	if (size < ZK_HDR_LEN)
		return 0;
	if (zk_proto_parse_header(data, &type, &blen) == 0) {
		if (type < ZK_MSG_START || type > ZK_MSG_PASTE || blen > ZK_MAX_BODY)
			abort();
	}
	body = data + ZK_HDR_LEN;
	len = size - ZK_HDR_LEN;
	/* The daemon and the module never read a body over ZK_MAX_BODY. */
	if (len > ZK_MAX_BODY)
		return 0;

	if (zk_proto_decode_start(body, len, &st) == 0)
		check_frame(frame, zk_proto_encode_start(&st, frame, sizeof(frame)), ZK_MSG_START,
			    body, len);
	if (zk_proto_decode_challenge(body, len, &ch) == 0)
		check_frame(frame, zk_proto_encode_challenge(&ch, frame, sizeof(frame)),
			    ZK_MSG_CHALLENGE, body, len);
	if (zk_proto_decode_wait(body, len, &wt) == 0)
		check_frame(frame, zk_proto_encode_wait(&wt, frame, sizeof(frame)), ZK_MSG_WAIT,
			    body, len);
	if (zk_proto_decode_verdict(body, len, &vd) == 0)
		check_frame(frame, zk_proto_encode_verdict(&vd, frame, sizeof(frame)), ZK_MSG_VERDICT,
			    body, len);
	if (zk_proto_decode_paste(body, len, &ps) == 0)
		check_frame(frame, zk_proto_encode_paste(&ps, frame, sizeof(frame)), ZK_MSG_PASTE,
			    body, len);
	return 0;
}
