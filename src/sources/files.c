/*-------------------------------------------------------------------------
 *
 * files.c
 *	  The "file" source: CSV and JSON-lines files on the database server,
 *	  landed incrementally in bronze.
 *
 * Options: {"path": "/abs/path/or/glob*.csv", "format": "csv" | "jsonl",
 * "delimiter": ",", "quote": "\"", "null": "", "require_files": false};
 * delimiter, quote and null apply to CSV only.  Reading server files is a privilege: declaring and running a
 * file source both need superuser or the privileges of
 * pg_read_server_files, as COPY FROM a file does.
 *
 * Files.  path is expanded with glob(3), in sorted order.  A pattern that
 * matches nothing lands nothing, with a NOTICE saying so (an ERROR with
 * require_files); a path without wildcards that does not exist is an
 * error.  The stage reports how many files it found (counts->files).  Matches that are not regular files (directories,
 * FIFOs) are skipped, as is a match removed before it could be opened; a
 * plain path naming one is an error.  New files matching the pattern are
 * picked up by the next run.
 *
 * Records.  A CSV file's first record is its header: each later record
 * becomes a jsonb object {column name: text value or null} (see csv.c for
 * the dialect; values stay text, typing is the silver stage's job).  In a
 * JSON-lines file each non-blank line must be one JSON object.  Blank lines
 * are skipped in both formats and are not records.  Files must be UTF-8
 * (a byte order mark at the start is skipped).  A record that cannot land
 * -- malformed CSV, a field count that differs from the header, invalid
 * UTF-8, invalid JSON, JSON that is not an object, JSON nested deeper than
 * LH_MAX_JSON_DEPTH -- becomes a dead letter (lakehouse.dead_letters:
 * position, raw bytes, reason, SQLSTATE) and the file goes on.  Problems
 * with a whole file (unreadable, malformed or duplicate header, a record
 * over CSV_MAX_RECORD_BYTES) are errors that fail the stage.
 *
 * Positions and marks.  A record's position is "<file name>:<line>", the
 * line on which it starts.  Each file has a mark in lakehouse.source_marks
 * keyed by its full path; the value is "<offset>:<line>": the byte offset
 * just after the last record read and the line number there, so that the
 * next run resumes with correct line numbers without re-reading the file.
 * (A mark that is a bare offset is accepted; lines are then counted.)  A
 * CSV file's header is read again from the start on every run.  Marks are
 * written with the rows, in the caller's transaction, and only when they
 * move.  A file found shorter than its mark was truncated or replaced: a
 * WARNING says so and the file is read again from the start.  A file
 * replaced by a longer one cannot be told from an appended one.  Marks of
 * files that disappeared stay behind, harmlessly.
 *
 * Files are read to their current end; a last line without a line end is
 * taken as a complete record (see csv.c).  Writers should append whole
 * lines, or write a new file and rename it into place.
 *
 * Encoding.  Files are read as UTF-8 and checked byte for byte.  In a
 * database whose encoding is not UTF-8 the text is converted; XXX a
 * character that encoding cannot represent fails the stage instead of
 * becoming a dead letter.
 *
 * Counts: rows_read = records read, rows_written = landed in bronze,
 * rows_skipped = dead-lettered, so read = written + skipped; files = the
 * files found (read or not, new records or none).
 *
 * Progress.  Before reading, the bytes every file has beyond its mark are
 * added up: that is the total lakehouse.run_progress shows, and each
 * record read reports the bytes read so far.
 *
 * Resources.  Files are opened with AllocateFile and closed in PG_FINALLY,
 * so an error (or a cancel, checked between records) leaves no descriptor
 * behind; glob's malloc'd results are freed the same way.  Each record is
 * built in a memory context reset per record.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <glob.h>
#include <sys/stat.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "lakehouse.h"
#include "sources/csv.h"
#include "sources/sources.h"

typedef enum FilesFormat
{
	FILES_CSV,
	FILES_JSONL
} FilesFormat;

typedef struct FilesOptions
{
	char	   *path;
	FilesFormat format;
	char		delimiter;
	char		quote;
	char	   *null_string;	/* NULL: an unquoted empty field */
	bool		require_files;	/* no matching file is an error */
} FilesOptions;

/* State of one ingest of one source, shared by its files. */
typedef struct FilesIngest
{
	LhSource   *src;
	FilesOptions opts;
	BronzeWriter *writer;
	LhStageCounts *counts;
	MemoryContext rowcxt;		/* reset for every record */
	LhTypeInput jsonb_input;
	int64		rows_added;
	bool		convert;		/* convert UTF-8 to the database encoding? */
	int64		bytes_before;	/* progress: bytes read of earlier files */
	int64		file_start;		/* progress: where reading this file began */
} FilesIngest;

static const char *const files_option_keys[] = {
	"path", "format", "delimiter", "quote", "null", "require_files", NULL
};

static void
files_check_privilege(void)
{
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read files for a file source"),
				 errdetail("Only superusers and roles with privileges of the \"pg_read_server_files\" role may read files on the server."),
				 errhint("Ask a superuser to grant pg_read_server_files to the role that owns the pipeline.")));
}

/* A one-byte option (delimiter, quote), or defval when absent. */
static char
files_char_option(Jsonb *options, const char *key, char defval)
{
	char	   *s = lh_option_text(options, key);

	if (s == NULL)
		return defval;
	if (strlen(s) != 1 || IS_HIGHBIT_SET(s[0]) || s[0] == '\n' || s[0] == '\r')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a single one-byte character", key),
				 errdetail("Value given: \"%s\".", s),
				 errhint("Use an ASCII character other than a line end.")));
	return s[0];
}

/*
 * Check and read the options.  Checks the current user's privilege to
 * read server files first.
 */
static void
files_parse_options(Jsonb *options, FilesOptions *opts)
{
	char	   *format;

	lh_check_option_keys(options, files_option_keys, "file source");
	files_check_privilege();

	opts->path = lh_option_text(options, "path");
	if (opts->path == NULL || opts->path[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("file source requires option \"path\""),
				 errhint("Give the absolute path of a file, or a pattern such as \"/data/orders/*.csv\".")));
	if (!is_absolute_path(opts->path))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"path\" must be an absolute path"),
				 errdetail("Path given: \"%s\".", opts->path),
				 errhint("lakehouse.lh_apply_config_file() resolves relative paths against the directory of the configuration file.")));

	format = lh_option_text(options, "format");
	if (format == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("file source requires option \"format\""),
				 errhint("Valid formats are \"csv\" and \"jsonl\".")));
	if (strcmp(format, "csv") == 0)
		opts->format = FILES_CSV;
	else if (strcmp(format, "jsonl") == 0)
		opts->format = FILES_JSONL;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized file format: \"%s\"", format),
				 errhint("Valid formats are \"csv\" and \"jsonl\".")));

	if (opts->format == FILES_JSONL)
	{
		const char *const csv_only[] = {"delimiter", "quote", "null"};

		for (int i = 0; i < lengthof(csv_only); i++)
			if (lh_option_text(options, csv_only[i]) != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"%s\" applies only to format \"csv\"",
								csv_only[i])));
	}

	opts->delimiter = files_char_option(options, "delimiter", ',');
	opts->quote = files_char_option(options, "quote", '"');
	if (opts->delimiter == opts->quote)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options \"delimiter\" and \"quote\" must be different characters")));
	opts->null_string = lh_option_text(options, "null");
	opts->require_files = lh_option_bool(options, "require_files", false);
}

/*
 * files_validate_options
 *		Check a file source's options and the caller's privilege to read
 *		server files.  The files need not exist yet.
 */
static void
files_validate_options(Jsonb *options)
{
	FilesOptions opts;

	files_parse_options(options, &opts);
}

/* Does path contain glob(3) wildcards? */
static bool
files_is_pattern(const char *path)
{
	return strpbrk(path, "*?[") != NULL;
}

/*
 * The files to read, in order: the path itself, or the regular files its
 * pattern matches (sorted; none is fine).
 */
static List *
files_expand(const char *path)
{
	List	   *volatile result = NIL;
	glob_t		g;
	int			rc;

	if (!files_is_pattern(path))
		return list_make1(pstrdup(path));

	memset(&g, 0, sizeof(g));
	rc = glob(path, 0, NULL, &g);
	PG_TRY();
	{
		if (rc == GLOB_NOSPACE)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory while expanding \"%s\"", path)));
		if (rc != 0 && rc != GLOB_NOMATCH)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not expand file pattern \"%s\"", path)));
		for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++)
		{
			struct stat st;

			if (stat(g.gl_pathv[i], &st) != 0 || !S_ISREG(st.st_mode))
			{
				elog(DEBUG1, "skipping \"%s\": not a regular file",
					 g.gl_pathv[i]);
				continue;
			}
			result = lappend(result, pstrdup(g.gl_pathv[i]));
		}
	}
	PG_FINALLY();
	{
		globfree(&g);
	}
	PG_END_TRY();
	return result;
}

/*
 * Parse a file mark "<offset>[:<line>]".  *line is 0 when the mark has no
 * line number.
 */
static void
files_parse_mark(const char *path, const char *mark, int64 *offset,
				 int64 *line)
{
	char	   *end;
	long long	o;
	long long	l = 0;
	bool		ok;

	errno = 0;
	o = strtoll(mark, &end, 10);
	ok = (errno == 0 && end != mark && o >= 0);
	if (ok && *end == ':')
	{
		const char *p = end + 1;

		l = strtoll(p, &end, 10);
		ok = (errno == 0 && end != p && l >= 1);
	}
	if (!ok || *end != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid mark for file \"%s\": \"%s\"", path, mark),
				 errdetail("A file mark is a byte offset, optionally followed by a colon and a line number."),
				 errhint("Delete the mark from lakehouse.source_marks to read the file again from the start.")));
	*offset = (int64) o;
	*line = (int64) l;
}

/* Text of a checked UTF-8 string in the database encoding. */
static inline char *
files_to_server(FilesIngest *st, char *s, int len)
{
	if (!st->convert)
		return s;
	return pg_any_to_server(s, len, PG_UTF8);
}

static void
files_dead_letter(FilesIngest *st, const char *position, const char *raw,
				  int rawlen, const char *reason, int sqlerrcode)
{
	catalog_add_dead_letter(st->src, position, raw, rawlen, reason, sqlerrcode,
							NULL);
	st->counts->rows_skipped++;
}

static void
files_land(FilesIngest *st, const char *position, Jsonb *payload)
{
	bronze_writer_add(st->writer, position, payload);
	st->rows_added++;
}

/* The jsonb object of a CSV record, keyed by the header. */
static Jsonb *
files_csv_payload(FilesIngest *st, CsvReader *r, char **header)
{
	JsonbParseState *state = NULL;
	JsonbValue	key;
	JsonbValue	val;
	JsonbValue *res;

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	for (int i = 0; i < r->nfields; i++)
	{
		key.type = jbvString;
		key.val.string.val = header[i];
		key.val.string.len = strlen(header[i]);
		pushJsonbValue(&state, WJB_KEY, &key);
		if (r->nulls[i])
			val.type = jbvNull;
		else
		{
			int			len = strlen(r->values[i]);

			val.type = jbvString;
			val.val.string.val = files_to_server(st, r->values[i], len);
			val.val.string.len = st->convert ? strlen(val.val.string.val) : len;
		}
		pushJsonbValue(&state, WJB_VALUE, &val);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

static int
files_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Read a CSV file's header at the start of the file.  Returns the column
 * names (in the current memory context) and sets *ncolumns, or returns NULL
 * for an empty file.
 */
static char **
files_read_header(FilesIngest *st, CsvReader *r, const char *path,
				  int *ncolumns)
{
	CsvResult	res;
	char	  **header;
	char	  **sorted;
	char	   *reason;

	csv_skip_bom(r);
	res = csv_read_record(r);
	if (res == CSV_EOF)
		return NULL;
	if (res == CSV_MALFORMED)
		ereport(ERROR,
				(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
				 errmsg("could not read the header of file \"%s\"", path),
				 errdetail("The header is malformed: %s.", r->error)));
	if (!lh_check_utf8(r->raw.data, r->raw.len, &reason))
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("could not read the header of file \"%s\"", path),
				 errdetail("The header has an %s.", reason)));

	header = palloc(sizeof(char *) * r->nfields);
	sorted = palloc(sizeof(char *) * r->nfields);
	for (int i = 0; i < r->nfields; i++)
	{
		header[i] = pstrdup(files_to_server(st, r->values[i],
											strlen(r->values[i])));
		sorted[i] = header[i];
	}
	qsort(sorted, r->nfields, sizeof(char *), files_cmp_names);
	for (int i = 1; i < r->nfields; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("header of file \"%s\" names column \"%s\" more than once",
							path, sorted[i]),
					 errhint("Column names become the keys of the bronze payload and must be unique.")));
	pfree(sorted);
	*ncolumns = r->nfields;
	return header;
}

/*
 * Positions are "<file>:<line>"; the prefix is built once per file and the
 * line number appended per record (this is the per-record hot path).
 */
typedef struct FilesPosition
{
	StringInfoData buf;
	int			prefix_len;
} FilesPosition;

static void
files_position_init(FilesPosition *pos, const char *base)
{
	initStringInfo(&pos->buf);
	appendStringInfo(&pos->buf, "%s:", base);
	pos->prefix_len = pos->buf.len;
	enlargeStringInfo(&pos->buf, MAXINT8LEN + 1);
}

static char *
files_position(FilesPosition *pos, int64 line)
{
	pos->buf.len = pos->prefix_len;
	pos->buf.len += pg_lltoa(line, pos->buf.data + pos->prefix_len);
	return pos->buf.data;
}

/* Report how many bytes of the files were read (lakehouse.run_progress). */
static inline void
files_progress(FilesIngest *st, CsvReader *r)
{
	lh_progress_set_bytes(st->bytes_before + csv_offset(r) - st->file_start);
}

/*
 * Land the CSV records of a file from start_offset (0: after the header).
 */
static void
files_read_csv(FilesIngest *st, CsvReader *r, const char *path,
			   const char *base, int64 start_offset, int64 start_line)
{
	char	  **header;
	int			ncolumns;
	FilesPosition pos;

	header = files_read_header(st, r, path, &ncolumns);
	if (header == NULL)
		return;
	files_position_init(&pos, base);

	if (start_offset > r->record_end)
	{
		if (start_line > 0)
			csv_reader_seek(r, start_offset, start_line);
		else if (!csv_reader_skip_to(r, start_offset))
			return;
	}
	r->expected_fields = ncolumns;

	for (;;)
	{
		MemoryContext oldcxt;
		CsvResult	res;
		char	   *position;
		char	   *reason;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(st->rowcxt);
		oldcxt = MemoryContextSwitchTo(st->rowcxt);

		res = csv_read_record(r);
		if (res == CSV_EOF)
		{
			MemoryContextSwitchTo(oldcxt);
			break;
		}
		st->counts->rows_read++;
		files_progress(st, r);
		position = files_position(&pos, r->record_line);

		if (res == CSV_MALFORMED)
			files_dead_letter(st, position, r->raw.data, r->raw.len, r->error,
							  ERRCODE_BAD_COPY_FILE_FORMAT);
		else if (!lh_check_utf8(r->raw.data, r->raw.len, &reason))
			files_dead_letter(st, position, r->raw.data, r->raw.len, reason,
							  ERRCODE_CHARACTER_NOT_IN_REPERTOIRE);
		else
			files_land(st, position, files_csv_payload(st, r, header));

		MemoryContextSwitchTo(oldcxt);
	}
}

/* Only JSON whitespace? */
static bool
files_is_blank(const char *s, int len)
{
	for (int i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/* Why a parsed JSON value cannot be a record. */
static const char *
files_not_object_reason(Jsonb *jb)
{
	JsonbValue	v;

	if (!JB_ROOT_IS_SCALAR(jb))
		return "JSON value is an array, not an object";
	(void) JsonbExtractScalar(&jb->root, &v);
	switch (v.type)
	{
		case jbvString:
			return "JSON value is a string, not an object";
		case jbvNumeric:
			return "JSON value is a number, not an object";
		case jbvBool:
			return "JSON value is a boolean, not an object";
		default:
			return "JSON value is null, not an object";
	}
}

/*
 * Land the JSON lines of a file from start_offset.
 */
static void
files_read_jsonl(FilesIngest *st, CsvReader *r, const char *base,
				 int64 start_offset, int64 start_line)
{
	FilesPosition pos;

	if (start_offset > 0)
	{
		if (start_line > 0)
			csv_reader_seek(r, start_offset, start_line);
		else if (!csv_reader_skip_to(r, start_offset))
			return;
	}
	else
		csv_skip_bom(r);
	files_position_init(&pos, base);

	for (;;)
	{
		MemoryContext oldcxt;
		char	   *position;
		char	   *reason;
		int			sqlstate;
		Datum		value;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(st->rowcxt);
		oldcxt = MemoryContextSwitchTo(st->rowcxt);

		if (!csv_read_line(r))
		{
			MemoryContextSwitchTo(oldcxt);
			break;
		}
		if (files_is_blank(r->raw.data, r->raw.len))
		{
			MemoryContextSwitchTo(oldcxt);
			continue;
		}
		st->counts->rows_read++;
		files_progress(st, r);
		position = files_position(&pos, r->record_line);

		if (!lh_json_record(r->raw.data, r->raw.len, &st->jsonb_input,
							&value, &reason, &sqlstate))
			files_dead_letter(st, position, r->raw.data, r->raw.len, reason,
							  sqlstate);
		else if (!JB_ROOT_IS_OBJECT(DatumGetJsonbP(value)) ||
				 JB_ROOT_IS_SCALAR(DatumGetJsonbP(value)))
			files_dead_letter(st, position, r->raw.data, r->raw.len,
							  files_not_object_reason(DatumGetJsonbP(value)),
							  ERRCODE_INVALID_JSON_TEXT);
		else
			files_land(st, position, DatumGetJsonbP(value));

		MemoryContextSwitchTo(oldcxt);
	}
}

/* Where reading a file ended. */
typedef struct FilesEnd
{
	bool		moved;			/* false: nothing was read */
	int64		offset;
	int64		line;
} FilesEnd;

/*
 * Read an open file from its mark (NULL: from the start) and land its
 * records; report in *end where reading stopped.
 */
static void
files_read_file(FilesIngest *st, FILE *fp, const char *path, const char *mark,
				FilesEnd *end)
{
	struct stat statbuf;
	CsvReader  *r;
	const char *base;
	int64		start_offset = 0;
	int64		start_line = 0;

	if (mark != NULL)
		files_parse_mark(path, mark, &start_offset, &start_line);

	base = strrchr(path, '/');
	base = base ? base + 1 : path;

	if (fstat(fileno(fp), &statbuf) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	if (!S_ISREG(statbuf.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a regular file", path),
				 errhint("Option \"path\" names a file, or a pattern that matches files.")));
	if (statbuf.st_size < start_offset)
	{
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("file \"%s\" is shorter than its mark", path),
				 errdetail("The file has " INT64_FORMAT " bytes, but " INT64_FORMAT " bytes of it were ingested before.",
						   (int64) statbuf.st_size, start_offset),
				 errhint("The file was truncated or replaced; it is read again from the start.")));
		start_offset = 0;
		start_line = 0;
	}
	else if (mark != NULL && statbuf.st_size == start_offset)
	{
		end->moved = false;		/* nothing new */
		return;
	}

	r = csv_reader_create(fp, path, st->opts.delimiter, st->opts.quote,
						  st->opts.null_string);
	st->file_start = start_offset;
	lh_progress_step(psprintf("read %s", path));
	if (st->opts.format == FILES_CSV)
		files_read_csv(st, r, path, base, start_offset, start_line);
	else
		files_read_jsonl(st, r, base, start_offset, start_line);
	end->moved = true;
	end->offset = csv_offset(r);
	end->line = r->line;
	st->bytes_before += end->offset - start_offset;
	lh_progress_set_bytes(st->bytes_before);
	csv_reader_free(r);
}

/*
 * Land the new records of one file and move its mark.  A file that a
 * pattern matched may have been removed since: that is not an error, and
 * the result is false (the file was not found).
 */
static bool
files_ingest_file(FilesIngest *st, const char *path, bool from_pattern)
{
	char	   *mark;
	char	   *new_mark;
	FilesEnd	end;
	FILE	   *volatile fp = NULL;

	mark = catalog_get_source_mark(st->src->source_id, path);

	fp = AllocateFile(path, PG_BINARY_R);
	if (fp == NULL && errno == ENOENT && from_pattern)
		return false;			/* vanished since the pattern was expanded */
	if (fp == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	PG_TRY();
	{
		files_read_file(st, fp, path, mark, &end);
	}
	PG_FINALLY();
	{
		FreeFile(fp);
		fp = NULL;
	}
	PG_END_TRY();

	/* nothing read, or an empty file: the mark stays as it is */
	if (!end.moved || (end.offset == 0 && mark == NULL))
		return true;
	new_mark = psprintf(INT64_FORMAT ":" INT64_FORMAT, end.offset, end.line);
	if (mark == NULL || strcmp(mark, new_mark) != 0)
		catalog_set_source_mark(st->src->source_id, path, new_mark);
	return true;
}

/*
 * A pattern that matched no file: a run that lands nothing would otherwise
 * look like a source without new data.  An ERROR with require_files, a
 * NOTICE otherwise.
 */
static void
files_none_found(FilesIngest *st)
{
	ereport(st->opts.require_files ? ERROR : NOTICE,
			(errcode(st->opts.require_files ? ERRCODE_UNDEFINED_FILE :
					 ERRCODE_SUCCESSFUL_COMPLETION),
			 errmsg("no file matches the path of file source \"%s\"",
					st->src->name),
			 errdetail("The pattern \"%s\" matched no regular file.",
					   st->opts.path),
			 st->opts.require_files ?
			 errhint("Check option \"path\", or set option \"require_files\" to false if finding no file is expected.") :
			 errhint("Set option \"require_files\" to true to make a run fail when no file matches.")));
}

/*
 * The bytes the files hold beyond their marks: what this ingest reads
 * (a file shorter than its mark is read again from the start).
 */
static int64
files_bytes_ahead(LhSource *src, List *paths)
{
	ListCell   *lc;
	int64		total = 0;

	foreach(lc, paths)
	{
		const char *path = lfirst(lc);
		char	   *mark = catalog_get_source_mark(src->source_id, path);
		int64		offset = 0;
		int64		line;
		struct stat st;

		if (stat(path, &st) != 0)
			continue;			/* reading it will say why */
		if (mark != NULL)
			files_parse_mark(path, mark, &offset, &line);
		total += (st.st_size >= offset) ? st.st_size - offset : st.st_size;
	}
	return total;
}

/*
 * files_ingest
 *		Land the new records of every file the source's path matches.
 *
 * Caller is connected to SPI (source_ingest does it).  It runs as the
 * pipeline's owner, who must still be allowed to read the server's files.
 */
static void
files_ingest(LhSource *src, int64 run_id, LhStageCounts *counts)
{
	FilesIngest st;
	List	   *paths;
	ListCell   *lc;
	int64		written;

	files_check_privilege();
	memset(&st, 0, sizeof(st));
	st.src = src;
	st.counts = counts;
	files_parse_options(src->options, &st.opts);
	st.convert = (GetDatabaseEncoding() != PG_UTF8 &&
				  GetDatabaseEncoding() != PG_SQL_ASCII);
	if (st.opts.format == FILES_JSONL)
		lh_type_input_init(&st.jsonb_input, JSONBOID, -1);

	paths = files_expand(st.opts.path);
	if (lh_progress_active())
		lh_progress_total(-1, files_bytes_ahead(src, paths));
	st.writer = bronze_writer_open(src, run_id);
	st.rowcxt = AllocSetContextCreate(CurrentMemoryContext,
									  "lakehouse file record",
									  ALLOCSET_DEFAULT_SIZES);

	counts->counts_files = true;
	foreach(lc, paths)
		if (files_ingest_file(&st, (const char *) lfirst(lc),
							  files_is_pattern(st.opts.path)))
			counts->files++;
	if (counts->files == 0)
		files_none_found(&st);

	written = bronze_writer_close(st.writer);
	Assert(written == st.rows_added);
	counts->rows_written += written;
	MemoryContextDelete(st.rowcxt);
}

/*
 * The file:// URL of an absolute path (RFC 8089): every byte but the
 * unreserved characters of RFC 3986 and "/" percent-encoded, so that
 * spaces, "%", "#", "?", glob characters and UTF-8 survive as a URI.
 */
static char *
files_path_uri(const char *path)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "file://");
	for (const unsigned char *p = (const unsigned char *) path; *p; p++)
	{
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || strchr("-._~/", *p))
			appendStringInfoChar(&buf, *p);
		else
			appendStringInfo(&buf, "%%%02X", *p);
	}
	return buf.data;
}

/*
 * The files: namespace "file" and the absolute path (or pattern) as the
 * name (OpenLineage's naming of local files); the data source's URI is
 * the path's file:// URL.
 */
static void
files_dataset(LhSource *src, SourceDataset *ds)
{
	char	   *path = lh_option_text(src->options, "path");

	ds->ns = pstrdup("file");
	ds->name = pstrdup(path ? path : src->name);
	if (path && is_absolute_path(path))
		ds->uri = files_path_uri(path);
}

const SourceRoutine file_routine = {
	.name = "file",
	.what = "file",
	.validate = files_validate_options,
	.ingest = files_ingest,
	.dataset = files_dataset,
};
