/** @file mdbtap.h
 * @brief mdbtap: the contract between the tap (libmdbtap.so) and the syncer.
 *
 * The tap runs inside an unmodified LMDB program (LD_PRELOAD). For every
 * write transaction that commits, it appends one record to the env's
 * journal: the txn id, a hybrid-logical-clock timestamp and the list of
 * elements the transaction wrote. The syncer (mdbtap) reads those records.
 *
 * This header is the only place where the journal format is defined.
 * Changing anything below is a format change: bump MDBTAP_JOURNAL_VERSION.
 *
 * @section where Where the journal lives
 * Nothing is stored in the host's env. Each env has a companion directory:
 *  - a directory env at DIR:          DIR/mdbtap/
 *  - an MDB_NOSUBDIR env at FILE:     FILE-mdbtap/
 * and the journal is the file `journal` in it. The syncer keeps its own
 * state in the same directory.
 *
 * @section file The journal file (version 3)
 * All integers are in host byte order: the file never leaves the machine.
 *  - offset 0: struct mdbtap_journal_header, padded to
 *    MDBTAP_JOURNAL_HEADER_SIZE bytes.
 *  - offset MDBTAP_JOURNAL_HEADER_SIZE: the ring, `capacity` bytes.
 *
 * Positions are logical byte counts that only grow; a position P lives at
 * ring offset P % capacity. Records are 8-byte aligned and never wrap:
 * when one does not fit before the end of the ring, a pad record fills the
 * rest. [tail, head) holds the records not yet consumed by the syncer.
 *
 * Writers append only while they hold the env's LMDB writer lock (the
 * record is written just before the host's commit), so appends never race.
 * A writer never overwrites [tail, head): when a record does not fit, it is
 * dropped and `dropped` is incremented; the syncer then sees an
 * unaccounted txn id and rescans (docs/DESIGN.md §2).
 *
 * @section wake Waking the syncer
 * `wake_until` and `wake_seq` were reserved words (zero) in the first
 * version-2 journals; zero means what it meant then, so a tap and a
 * syncer of either age work together (the older one just never wakes
 * the other, which then polls). A syncer about to sleep stores a
 * deadline in `wake_until`, then a sequentially consistent fence, then
 * looks at the records once more. A tap, after the host's commit
 * returned, marks its record (a sequentially consistent compare and
 * swap) and reads `wake_until` (a sequentially consistent load): when it is
 * nonzero and not past, it increments `wake_seq` and FUTEX_WAKEs it (a
 * shared futex: the file is MAP_SHARED); when past, it clears it (a
 * syncer killed while waiting costs nothing once its deadline passed).
 * The fence and the two sequentially consistent operations make sure that
 * either the tap sees the deadline or the syncer sees the record's new
 * state. Nothing else is done per commit.
 *
 * @section record A record
 * struct mdbtap_record, then `nnames` names, then `nops` ops, then zero
 * padding to `size`. A name is a u16 length (MDBTAP_NAME_UNNAMED for the
 * unnamed DBI) and that many bytes. An op is struct mdbtap_op_header, then
 * `klen` key bytes, then `vlen` value bytes. Names and ops are unaligned:
 * read them with memcpy.
 *
 * `state` tells whether the host's commit went through. It is
 * `position | MDBTAP_STATE_*`: the position binds the state to this record,
 * so a late update can never land on a slot that was reused. A record stays
 * PENDING while the host commits (microseconds); one that stays PENDING
 * after its writer died is in doubt: its txn may or may not have committed.
 *
 * @section ops What an op means
 * Ops are in the order the host made the calls, and are replayed in that
 * order. For a plain DBI an element is a key: PUT and DEL carry the key only
 * (the syncer reads the value itself). For a DUPSORT DBI an element is a
 * (key, value) pair: PUT and DEL carry both (MDBTAP_OPF_VALUE), and DELALL
 * says that every value of the key went. DROP empties a DBI, DELETE_DBI
 * deletes it, CREATE creates it (value: its u32 flags; for the unnamed DBI,
 * a change of its flags). DIRTY says the DBI may have changed anywhere: the
 * transaction was too large to list (the syncer compares digests). ORDER
 * says the host orders the DBI with its own comparator (mdb_set_compare or
 * mdb_set_dupsort): its byte order is not LMDB's memcmp order, so the
 * syncer neither exports nor merges it. It precedes the DBI's first other
 * op in each record of a writer that set one.
 */
#ifndef MDBTAP_H
#define MDBTAP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MDBTAP_VERSION_MAJOR 0
#define MDBTAP_VERSION_MINOR 1
#define MDBTAP_VERSION_PATCH 0
#define MDBTAP_VERSION_STRING "0.1.0"

/** @name Companion directory and journal file names */
/**@{*/
#define MDBTAP_COMPANION_SUBDIR "mdbtap"         /**< inside a directory env */
#define MDBTAP_COMPANION_SUFFIX "-mdbtap"        /**< after an MDB_NOSUBDIR file */
#define MDBTAP_JOURNAL_FILE "journal"
/**@}*/

/** @name Journal file constants */
/**@{*/
#define MDBTAP_JOURNAL_MAGIC "MDBTAPJ\001"       /**< 8 bytes, no NUL */
#define MDBTAP_JOURNAL_VERSION 3u   /**< 2: the record crc covers nops and body_len too;
					 3: op ORDER */
#define MDBTAP_JOURNAL_HEADER_SIZE 4096u
#define MDBTAP_JOURNAL_DEFAULT_CAPACITY (64u << 20)
#define MDBTAP_JOURNAL_MIN_CAPACITY (64u << 10)
/**@}*/

/** The journal file's header. Fields marked atomic are read and written
 * with 64-bit atomic operations by every process that maps the file. */
struct mdbtap_journal_header {
	char magic[8];         /**< MDBTAP_JOURNAL_MAGIC, written last at creation */
	uint32_t version;      /**< MDBTAP_JOURNAL_VERSION */
	uint32_t header_size;  /**< MDBTAP_JOURNAL_HEADER_SIZE */
	uint64_t capacity;     /**< ring size in bytes, a multiple of 8 */
	uint64_t base_txnid;   /**< env's last txn id when the journal was created */
	uint64_t created_ns;   /**< wall clock at creation */
	uint64_t head;         /**< atomic: end of the last published record */
	uint64_t tail;         /**< atomic: start of the oldest unconsumed record */
	uint64_t clock;        /**< atomic: the env's hybrid logical clock, ns */
	uint64_t dropped;      /**< atomic: records that did not fit in the ring */
	uint64_t accounted_txnid; /**< atomic: the syncer accounted for every txn id up to here */
	uint64_t wake_until;   /**< atomic: a syncer waits for a commit until this
				    CLOCK_MONOTONIC ns; 0: none waits (see below) */
	uint32_t wake_seq;     /**< atomic: a futex word, bumped to wake the syncer */
	uint32_t wake_pad;     /**< zero */
	uint64_t reserved[4];  /**< zero */
};

/** @name Record magics */
/**@{*/
#define MDBTAP_RECORD_MAGIC 0x4352544du  /**< "MTRC": a transaction record */
#define MDBTAP_PAD_MAGIC 0x4450544du     /**< "MTPD": padding to the ring's end */
/**@}*/

/** @name Record states (low 3 bits of mdbtap_record.state) */
/**@{*/
#define MDBTAP_STATE_MASK 7u
#define MDBTAP_STATE_PENDING 1u    /**< written, the host's commit not yet returned */
#define MDBTAP_STATE_COMMITTED 2u  /**< the host's commit succeeded */
#define MDBTAP_STATE_ABORTED 3u    /**< the host's commit failed: ignore the record */
/**@}*/

/** @name Record flags */
/**@{*/
#define MDBTAP_REC_LOSSY 1u   /**< the tap missed something: rescan every DBI */
#define MDBTAP_REC_SYNCER 2u  /**< written by the syncer's own merge transaction */
/**@}*/

/** A record header; the pad record uses only `magic` and `size`.
 *
 * A record may have no ops: LMDB gave the txn an id although nothing the
 * syncer exports changed (a failed MDB_NODUPDATA put touches pages first).
 * Such a record only accounts for its txn id. A refusal that comes before
 * LMDB touches a page (MDB_NOOVERWRITE, MDB_APPEND) gives no id and no
 * record. */
struct mdbtap_record {
	uint32_t magic;     /**< MDBTAP_RECORD_MAGIC or MDBTAP_PAD_MAGIC */
	uint32_t size;      /**< total bytes, header included, a multiple of 8 */
	uint64_t state;     /**< atomic: position | MDBTAP_STATE_* */
	uint64_t txnid;     /**< the LMDB txn id the commit got */
	uint64_t ts;        /**< hybrid logical clock, ns since the epoch */
	uint32_t pid;       /**< the writing process */
	uint32_t flags;     /**< MDBTAP_REC_* */
	uint32_t nnames;    /**< DBI names that follow */
	uint32_t nops;      /**< ops that follow the names */
	uint32_t body_len;  /**< bytes of names and ops */
	uint32_t crc;       /**< zlib crc32 of bytes [txnid, crc) then of the body */
};

/** Bytes of a record header covered by its crc: from `txnid` up to
 * `crc` (txnid, ts, pid, flags, nnames, nops, body_len). `magic` and
 * `size` are checked against the ring, and `state` changes after the crc
 * is written. Version 1 covered 28 bytes (up to nnames). */
#define MDBTAP_RECORD_CRC_OFFSET 16u
#define MDBTAP_RECORD_CRC_LEN 36u

#define MDBTAP_NAME_UNNAMED 0xffffu /**< name length of the unnamed DBI */

/** @name Op types */
/**@{*/
#define MDBTAP_OP_PUT 1u         /**< element written (a put, even of the same bytes) */
#define MDBTAP_OP_DEL 2u         /**< element deleted */
#define MDBTAP_OP_DELALL 3u      /**< DUPSORT: every value of the key deleted */
#define MDBTAP_OP_DROP 4u        /**< DBI emptied (mdb_drop, del=0) */
#define MDBTAP_OP_DELETE_DBI 5u  /**< DBI deleted (mdb_drop, del=1) */
#define MDBTAP_OP_CREATE 6u      /**< DBI created, or the unnamed DBI's flags changed */
#define MDBTAP_OP_DIRTY 7u       /**< DBI may have changed anywhere */
#define MDBTAP_OP_ORDER 8u       /**< the host orders the DBI with its own comparator */
/**@}*/

#define MDBTAP_OPF_VALUE 1u /**< the op carries a value (DUPSORT element) */

/** An op header, as stored (unaligned, 12 bytes). */
struct mdbtap_op_header {
	uint8_t type;   /**< MDBTAP_OP_* */
	uint8_t flags;  /**< MDBTAP_OPF_* */
	uint16_t name;  /**< index into the record's names */
	uint32_t klen;  /**< key bytes that follow */
	uint32_t vlen;  /**< value bytes that follow the key */
} __attribute__((packed));

#define MDBTAP_OP_HEADER_SIZE 12u

/* Every on-disk layout, checked wherever this header is compiled: a
 * change that these do not expect is a format change. */
#ifdef __cplusplus
#define MDBTAP_STATIC_ASSERT static_assert
#else
#define MDBTAP_STATIC_ASSERT _Static_assert
#endif
#define MDBTAP_OFFSETOF(t, m) __builtin_offsetof(t, m)
MDBTAP_STATIC_ASSERT(sizeof(struct mdbtap_journal_header) == 128,
		     "journal header size");
MDBTAP_STATIC_ASSERT(sizeof(struct mdbtap_journal_header) <= MDBTAP_JOURNAL_HEADER_SIZE,
		     "journal header fits its page");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, magic) == 0,
		     "journal header: magic");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, version) == 8,
		     "journal header: version");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, header_size) == 12,
		     "journal header: header_size");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, capacity) == 16,
		     "journal header: capacity");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, base_txnid) == 24,
		     "journal header: base_txnid");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, created_ns) == 32,
		     "journal header: created_ns");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, head) == 40,
		     "journal header: head");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, tail) == 48,
		     "journal header: tail");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, clock) == 56,
		     "journal header: clock");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, dropped) == 64,
		     "journal header: dropped");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, accounted_txnid) == 72,
		     "journal header: accounted_txnid");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, wake_until) == 80,
		     "journal header: wake_until");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, wake_seq) == 88,
		     "journal header: wake_seq (a futex word: 4-byte aligned)");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, wake_pad) == 92,
		     "journal header: wake_pad");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_journal_header, reserved) == 96,
		     "journal header: reserved");
MDBTAP_STATIC_ASSERT(sizeof(struct mdbtap_record) == 56,
		     "record header size");
MDBTAP_STATIC_ASSERT(sizeof(struct mdbtap_record) % 8 == 0,
		     "records stay 8-byte aligned");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_record, magic) == 0,
		     "record: magic");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_record, size) == 4,
		     "record: size");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_record, state) == 8,
		     "record: state");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_record, txnid) == 16,
		     "record: txnid");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_record, ts) == 24,
		     "record: ts");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_record, pid) == 32,
		     "record: pid");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_record, flags) == 36,
		     "record: flags");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_record, nnames) == 40,
		     "record: nnames");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_record, nops) == 44,
		     "record: nops");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_record, body_len) == 48,
		     "record: body_len");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_record, crc) == 52,
		     "record: crc");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_record, txnid) == MDBTAP_RECORD_CRC_OFFSET,
		     "the crc starts at txnid");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_record, crc) - MDBTAP_RECORD_CRC_OFFSET == MDBTAP_RECORD_CRC_LEN,
		     "the crc covers txnid up to crc, as documented");
MDBTAP_STATIC_ASSERT(sizeof(struct mdbtap_op_header) == MDBTAP_OP_HEADER_SIZE,
		     "op header size");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_op_header, type) == 0,
		     "op header: type");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_op_header, flags) == 1,
		     "op header: flags");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_op_header, name) == 2,
		     "op header: name");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_op_header, klen) == 4,
		     "op header: klen");
MDBTAP_STATIC_ASSERT(MDBTAP_OFFSETOF(struct mdbtap_op_header, vlen) == 8,
		     "op header: vlen");

/** @name Error codes
 * Functions return 0, a positive errno value, or one of these. */
/**@{*/
#define MDBTAP_E_FORMAT (-31900)   /**< a file or record is not in our format */
#define MDBTAP_E_VERSION (-31899)  /**< a format version we do not know */
#define MDBTAP_E_CORRUPT (-31898)  /**< a checksum or size does not match */
#define MDBTAP_E_FULL (-31897)     /**< the journal ring has no room */
#define MDBTAP_E_LAST (-31897)
/**@}*/

/** @brief Describe an error code: one of ours or an errno value (LMDB's
 * own codes are described by mdb_strerror()).
 * @return a static string. */
const char *mdbtap_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* MDBTAP_H */
