/*-------------------------------------------------------------------------
 *
 * csv.c
 *	  A streaming, buffered reader of CSV records (RFC 4180) and of plain
 *	  lines, over a stdio FILE.
 *
 * The file source (files.c) owns the FILE and this reader; the reader
 * owns only its buffers, which live in the memory context that was
 * current at csv_reader_create and are released by csv_reader_free (or
 * with that context).  It takes no locks, touches no catalog and keeps no
 * global state, so an error anywhere (a cancel is checked each time the
 * buffer is refilled) leaves nothing behind but memory.
 *
 * CSV dialect.  Fields are separated by a one-byte delimiter (default ',')
 * and records by LF or CRLF.  A field that starts with the quote byte
 * (default '"') is quoted: it ends at the next lone quote, may contain the
 * delimiter, CR and LF, and a doubled quote stands for one quote.  A quote
 * in the middle of an unquoted field is an ordinary byte.  After a closing
 * quote only a delimiter or a line end may follow; anything else makes the
 * record malformed.  An unquoted field equal to the null string (default:
 * the empty string) is NULL; a quoted field never is, so "" is an empty
 * string.  A line that is completely empty is skipped, not a record.
 * Bytes are not interpreted, so the delimiter and quote must be ASCII and
 * the file in an ASCII-compatible encoding (the caller checks UTF-8).
 *
 * Complete records only.  A record normally ends with a line end.  At end
 * of file, a last record without one is also taken as complete.  This is
 * deliberately simple: a file that is still being written may end in a
 * partial line, and that line will be read as it is.  Writers should
 * append whole lines (write to a temporary name and rename, or append
 * under a lock); the documentation of the file source says so.
 *
 * Malformed records (an unterminated quoted field at end of file, a stray
 * character after a closing quote, a field count different from
 * expected_fields) are consumed in full and returned as CSV_MALFORMED with
 * a reason, so that the caller can dead-letter them and go on with the
 * next record.  Read errors and records longer than CSV_MAX_RECORD_BYTES
 * are raised as errors.
 *
 * Positions.  The reader counts lines (LF bytes) and bytes from wherever
 * csv_reader_seek put it, so a caller resuming from a saved offset must
 * also supply the line number (or call csv_reader_skip_to, which counts).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "sources/csv.h"

typedef enum CsvState
{
	CSV_FIELD_START,			/* at the first byte of a field */
	CSV_UNQUOTED,				/* inside an unquoted field */
	CSV_QUOTED,					/* inside a quoted field */
	CSV_QUOTE_SEEN				/* a quote inside a quoted field: closing or
								 * the first half of a doubled quote */
} CsvState;

/*
 * csv_reader_create
 *		Set up a reader at the start of fp.
 *
 * filename is only used in messages.  null_string NULL means the default
 * (an unquoted empty field is NULL).  The strings are not copied: they
 * must live as long as the reader.
 */
CsvReader *
csv_reader_create(FILE *fp, const char *filename, char delimiter, char quote,
				  const char *null_string)
{
	CsvReader  *r = palloc0(sizeof(CsvReader));

	r->fp = fp;
	r->filename = filename;
	r->delimiter = delimiter;
	r->quote = quote;
	r->null_string = null_string ? null_string : "";
	r->expected_fields = 0;
	r->buf = palloc(CSV_BUFFER_SIZE);
	r->buf_len = 0;
	r->buf_pos = 0;
	r->raw_from = -1;
	r->at_eof = false;
	r->buf_offset = 0;
	r->line = 1;
	initStringInfo(&r->raw);
	initStringInfo(&r->data);
	r->maxfields = 16;
	r->starts = palloc(sizeof(int) * r->maxfields);
	r->quoted = palloc(sizeof(bool) * r->maxfields);
	r->values = palloc(sizeof(char *) * r->maxfields);
	r->nulls = palloc(sizeof(bool) * r->maxfields);
	return r;
}

void
csv_reader_free(CsvReader *r)
{
	pfree(r->buf);
	pfree(r->raw.data);
	pfree(r->data.data);
	pfree(r->starts);
	pfree(r->quoted);
	pfree(r->values);
	pfree(r->nulls);
	pfree(r);
}

/*
 * Append bytes to the raw copy of the current record, enforcing the size
 * limit.
 */
static void
csv_append_raw(CsvReader *r, const char *bytes, int len)
{
	if (len <= 0)
		return;
	if ((int64) r->raw.len + len > CSV_MAX_RECORD_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("record starting at line " INT64_FORMAT " of file \"%s\" is too long",
						r->record_line, r->filename),
				 errdetail("Records are limited to %d bytes.",
						   CSV_MAX_RECORD_BYTES),
				 errhint("In a CSV file, an unterminated quoted field makes the rest of the file one record; check the quoting.")));
	appendBinaryStringInfo(&r->raw, bytes, len);
}

/*
 * Refill the buffer.  Returns false at end of file.  Raw bytes of a record
 * in progress are saved first.
 */
static bool
csv_fill(CsvReader *r)
{
	size_t		n;

	if (r->raw_from >= 0)
	{
		csv_append_raw(r, r->buf + r->raw_from, r->buf_len - r->raw_from);
		r->raw_from = 0;
	}
	r->buf_offset += r->buf_len;
	r->buf_len = 0;
	r->buf_pos = 0;
	if (r->at_eof)
		return false;

	/* a long record or a long skip can take a while */
	CHECK_FOR_INTERRUPTS();

	errno = 0;
	n = fread(r->buf, 1, CSV_BUFFER_SIZE, r->fp);
	if (n == 0)
	{
		if (ferror(r->fp))
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", r->filename)));
		r->at_eof = true;
		return false;
	}
	r->buf_len = (int) n;
	return true;
}

/* The next byte without consuming it, or EOF. */
static inline int
csv_peek(CsvReader *r)
{
	if (r->buf_pos >= r->buf_len && !csv_fill(r))
		return EOF;
	return (unsigned char) r->buf[r->buf_pos];
}

/*
 * csv_reader_seek
 *		Continue reading at a byte offset, which must be the start of a
 *		line, known to be line number 'line'.
 */
void
csv_reader_seek(CsvReader *r, int64 offset, int64 line)
{
	if (fseeko(r->fp, (off_t) offset, SEEK_SET) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not seek to offset " INT64_FORMAT " in file \"%s\": %m",
						offset, r->filename)));
	clearerr(r->fp);
	r->buf_len = 0;
	r->buf_pos = 0;
	r->raw_from = -1;
	r->at_eof = false;
	r->buf_offset = offset;
	r->line = line;
}

/*
 * csv_reader_skip_to
 *		Read forward to a byte offset, counting lines on the way.
 *
 * Used when a saved position has no line number.  Returns false if the
 * file ends first.
 */
bool
csv_reader_skip_to(CsvReader *r, int64 offset)
{
	r->raw_from = -1;
	while (csv_offset(r) < offset)
	{
		char	   *p;
		char	   *end;

		if (r->buf_pos >= r->buf_len && !csv_fill(r))
			return false;
		p = r->buf + r->buf_pos;
		end = p + Min((int64) (r->buf_len - r->buf_pos), offset - csv_offset(r));
		while (p < end && (p = memchr(p, '\n', end - p)) != NULL)
		{
			r->line++;
			p++;
		}
		r->buf_pos = (int) ((end - r->buf));
	}
	return true;
}

/*
 * csv_skip_bom
 *		At the start of a file, skip a UTF-8 byte order mark if there is one.
 */
void
csv_skip_bom(CsvReader *r)
{
	if (csv_offset(r) != 0)
		return;
	r->raw_from = -1;
	if (csv_peek(r) == EOF)
		return;
	if (r->buf_len - r->buf_pos >= 3 &&
		memcmp(r->buf + r->buf_pos, "\xEF\xBB\xBF", 3) == 0)
		r->buf_pos += 3;
}

/* Start a new field of the current record. */
static void
csv_begin_field(CsvReader *r)
{
	if (r->nfields == r->maxfields)
	{
		r->maxfields *= 2;
		r->starts = repalloc(r->starts, sizeof(int) * r->maxfields);
		r->quoted = repalloc(r->quoted, sizeof(bool) * r->maxfields);
		r->values = repalloc(r->values, sizeof(char *) * r->maxfields);
		r->nulls = repalloc(r->nulls, sizeof(bool) * r->maxfields);
	}
	r->starts[r->nfields] = r->data.len;
	r->quoted[r->nfields] = false;
	r->nfields++;
}

/* Remember the first reason a record is malformed. */
static void
csv_set_error(CsvReader *r, const char *reason)
{
	if (r->error == NULL)
		r->error = reason;
}

/*
 * Finish a record whose bytes csv_read_record consumed: end the last
 * field, complete the raw copy (without its line end of term_len bytes),
 * note where the record ends, point values and nulls at the fields, and
 * check the field count.  Returns what csv_read_record returns.
 */
static CsvResult
csv_finish_record(CsvReader *r, int term_len)
{
	/* finish the last field and the raw copy */
	appendStringInfoCharMacro(&r->data, '\0');
	if (r->raw_from >= 0)
		csv_append_raw(r, r->buf + r->raw_from, r->buf_pos - r->raw_from);
	r->raw_from = -1;
	if (term_len > 0 && r->raw.len >= term_len)
	{
		r->raw.len -= term_len;
		r->raw.data[r->raw.len] = '\0';
	}
	r->record_end = csv_offset(r);

	for (int i = 0; i < r->nfields; i++)
	{
		r->values[i] = r->data.data + r->starts[i];
		r->nulls[i] = !r->quoted[i] &&
			strcmp(r->values[i], r->null_string) == 0;
	}

	if (r->error == NULL && r->expected_fields > 0 &&
		r->nfields != r->expected_fields)
		r->error = psprintf("record has %d fields, but the header has %d",
							r->nfields, r->expected_fields);

	return r->error ? CSV_MALFORMED : CSV_RECORD;
}

/*
 * csv_read_record
 *		Read the next record.
 *
 * Returns CSV_EOF when the file has no more records, CSV_RECORD for a
 * well-formed record and CSV_MALFORMED (with reader->error set) for a
 * record that was consumed but cannot be trusted.  In both latter cases
 * reader->record_line, record_end and raw describe the record, and
 * nfields, values and nulls its fields (valid until the next call).
 *
 * Long on purpose: the loop is the per-byte state machine of the CSV
 * dialect (see the file header); its states share the byte just read and
 * the record's bookkeeping, and kept in one loop each byte costs one
 * branch on the state.  What happens once per record is in
 * csv_finish_record.
 */
CsvResult
csv_read_record(CsvReader *r)
{
	CsvState	state = CSV_FIELD_START;
	bool		consumed = false;	/* any byte of this record read yet? */
	int			term_len = 0;	/* length of the line end that ended it */
	int			c;

	resetStringInfo(&r->raw);
	resetStringInfo(&r->data);
	r->nfields = 0;
	r->error = NULL;
	r->record_line = r->line;
	if (r->buf_pos >= r->buf_len)
		(void) csv_peek(r);
	r->raw_from = r->buf_pos;
	csv_begin_field(r);

	for (;;)
	{
		if (r->buf_pos >= r->buf_len && !csv_fill(r))
		{
			/* end of file */
			if (!consumed)
			{
				r->raw_from = -1;
				return CSV_EOF;
			}
			if (state == CSV_QUOTED)
				csv_set_error(r, "unterminated quoted field at end of file");
			break;
		}
		c = (unsigned char) r->buf[r->buf_pos++];
		consumed = true;

		if (state == CSV_QUOTED)
		{
			if (c == r->quote)
				state = CSV_QUOTE_SEEN;
			else
			{
				if (c == '\n')
					r->line++;
				appendStringInfoCharMacro(&r->data, (char) c);
			}
			continue;
		}

		if (state == CSV_QUOTE_SEEN && c == r->quote)
		{
			/* doubled quote */
			appendStringInfoCharMacro(&r->data, (char) c);
			state = CSV_QUOTED;
			continue;
		}

		/* FIELD_START, UNQUOTED or QUOTE_SEEN: look for the field's end */
		if (c == r->delimiter && r->nfields >= CSV_MAX_FIELDS)
		{
			/* keep consuming the record, but stop splitting it */
			csv_set_error(r, "record has more than "
						  CppAsString2(CSV_MAX_FIELDS) " fields");
			appendStringInfoCharMacro(&r->data, (char) c);
			state = CSV_UNQUOTED;
			continue;
		}
		if (c == r->delimiter)
		{
			appendStringInfoCharMacro(&r->data, '\0');
			csv_begin_field(r);
			state = CSV_FIELD_START;
			continue;
		}
		if (c == '\n')
		{
			r->line++;
			term_len = 1;
		}
		else if (c == '\r')
		{
			int			next = csv_peek(r);

			if (next == '\n')
			{
				r->buf_pos++;
				r->line++;
				term_len = 2;
			}
			else if (next == EOF)
				term_len = 1;
		}
		if (term_len > 0)
		{
			if (state == CSV_FIELD_START && r->nfields == 1)
			{
				/* an empty line: skip it and start over */
				resetStringInfo(&r->raw);
				r->raw_from = r->buf_pos;
				r->record_line = r->line;
				consumed = false;
				term_len = 0;
				continue;
			}
			break;
		}

		if (state == CSV_FIELD_START && c == r->quote)
		{
			r->quoted[r->nfields - 1] = true;
			state = CSV_QUOTED;
			continue;
		}
		if (state == CSV_QUOTE_SEEN)
			csv_set_error(r, "unexpected character after a closing quote");
		appendStringInfoCharMacro(&r->data, (char) c);
		state = CSV_UNQUOTED;
	}

	return csv_finish_record(r, term_len);
}

/*
 * csv_read_line
 *		Read the next line, for line-oriented formats (JSON lines).
 *
 * Returns false at end of file.  The line, without its LF or CRLF, is in
 * reader->raw; record_line and record_end are set as for records.  As with
 * records, a last line without a line end is returned as a line.
 */
bool
csv_read_line(CsvReader *r)
{
	resetStringInfo(&r->raw);
	r->raw_from = -1;
	r->record_line = r->line;
	r->error = NULL;

	for (;;)
	{
		char	   *start;
		char	   *nl;
		int			avail;

		if (r->buf_pos >= r->buf_len && !csv_fill(r))
		{
			if (r->raw.len == 0)
				return false;
			break;
		}
		start = r->buf + r->buf_pos;
		avail = r->buf_len - r->buf_pos;
		nl = memchr(start, '\n', avail);
		if (nl != NULL)
		{
			int			n = (int) (nl - start);

			csv_append_raw(r, start, n);
			r->buf_pos += n + 1;
			r->line++;
			break;
		}
		csv_append_raw(r, start, avail);
		r->buf_pos = r->buf_len;
	}

	if (r->raw.len > 0 && r->raw.data[r->raw.len - 1] == '\r')
	{
		r->raw.len--;
		r->raw.data[r->raw.len] = '\0';
	}
	r->record_end = csv_offset(r);
	return true;
}
