/*-------------------------------------------------------------------------
 *
 * csv.h
 *	  A streaming reader of CSV records (RFC 4180) and plain lines over a
 *	  stdio FILE, used by the file source (files.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LAKEHOUSE_CSV_H
#define LAKEHOUSE_CSV_H

#include <stdio.h>

#include "lib/stringinfo.h"

/* Size of the read buffer. */
#define CSV_BUFFER_SIZE 65536

/*
 * Longest record or line accepted, in raw bytes.  A longer one is an error
 * (not a dead letter): usually an unterminated quote that swallowed the
 * rest of a large file.  Kept well below MaxAllocSize because a record is
 * held twice (raw bytes and unescaped field values).
 */
#define CSV_MAX_RECORD_BYTES (256 * 1024 * 1024)

/*
 * Most fields a record may have; a record with more is malformed.  This
 * bounds the per-field arrays, whatever the input.
 */
#define CSV_MAX_FIELDS 100000

typedef enum CsvResult
{
	CSV_EOF,					/* no more records */
	CSV_RECORD,					/* a well-formed record */
	CSV_MALFORMED				/* a record was consumed, but is malformed */
} CsvResult;

typedef struct CsvReader
{
	/* settings, fixed by csv_reader_create; expected_fields may change */
	FILE	   *fp;
	const char *filename;		/* for error messages */
	char		delimiter;
	char		quote;
	const char *null_string;	/* an unquoted field equal to it is NULL */
	int			expected_fields;	/* 0: any number of fields */

	/* input position */
	char	   *buf;
	int			buf_len;
	int			buf_pos;
	int			raw_from;		/* start of pending raw bytes in buf, or -1 */
	bool		at_eof;
	int64		buf_offset;		/* file offset of buf[0] */
	int64		line;			/* line number of buf[buf_pos], from 1 */

	/* the record (or line) read last */
	int64		record_line;	/* line on which it started */
	int64		record_end;		/* file offset just after it */
	StringInfoData raw;			/* its bytes without the line end, NUL-terminated */
	int			nfields;
	char	  **values;			/* NUL-terminated field values */
	bool	   *nulls;
	const char *error;			/* CSV_MALFORMED: why, else NULL */

	/* private */
	StringInfoData data;		/* field values, back to back */
	int		   *starts;			/* offset of each field in data */
	bool	   *quoted;			/* was the field quoted? */
	int			maxfields;
} CsvReader;

/* File offset of the next unread byte. */
static inline int64
csv_offset(CsvReader *reader)
{
	return reader->buf_offset + reader->buf_pos;
}

extern CsvReader *csv_reader_create(FILE *fp, const char *filename,
									char delimiter, char quote,
									const char *null_string);
extern void csv_reader_seek(CsvReader *reader, int64 offset, int64 line);
extern bool csv_reader_skip_to(CsvReader *reader, int64 offset);
extern void csv_skip_bom(CsvReader *reader);
extern CsvResult csv_read_record(CsvReader *reader);
extern bool csv_read_line(CsvReader *reader);
extern void csv_reader_free(CsvReader *reader);

#endif							/* LAKEHOUSE_CSV_H */
