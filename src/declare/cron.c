/*-------------------------------------------------------------------------
 *
 * cron.c
 *	  Checking a pipeline's schedule, a pg_cron expression, before pg_cron
 *	  sees it, so that a mistake is reported with the field that is wrong
 *	  and the syntax in the hint (pg_cron 1.4 says only "invalid schedule").
 *
 * The grammar is pg_cron's (Vixie cron's, src/entry.c there): five fields
 * separated by blanks -- minute 0-59, hour 0-23, day of month 1-31, month
 * 1-12 or jan-dec, day of week 0-7 or sun-sat (0 and 7 are Sunday) --
 * each a comma-separated list of "*", a value, or a range a-b, either of
 * the last two optionally followed by a step /n ("*" or a range only,
 * as pg_cron refuses 1/20); or one of the nicknames @yearly, @annually,
 * @monthly, @weekly, @daily, @midnight, @hourly, @reboot.  What newer
 * pg_cron versions add ("N seconds", "$" for the last day of the month)
 * is let through for pg_cron to judge.  Beyond pg_cron, an empty range
 * (5-1) and a sixth field are refused: pg_cron would accept and ignore
 * them, which is never what was meant.
 *
 * Both lh_schedule (src/pipeline/schedule.c) and the YAML parser (which
 * reports the line and column) call lh_cron_check.  It runs no SQL and
 * reads no catalog: test/fuzz/yaml_fuzz.c links it with yaml_parse.c and
 * yaml_read.c.
 * It may call only palloc, psprintf and libpgport.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "declare/declare.h"

/* One field of a cron expression. */
typedef struct CronField
{
	const char *name;
	int			low;
	int			high;
	const char *const *names;	/* names of values from low, or NULL */
} CronField;

static const char *const cron_months[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
	"nov", "dec", NULL
};
static const char *const cron_days[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

static const CronField cron_fields[] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day of month", 1, 31, NULL},
	{"month", 1, 12, cron_months},
	{"day of week", 0, 7, cron_days}
};

static const char *const cron_nicknames[] = {
	"yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly",
	"reboot", NULL
};

/* Blanks between fields, as cron reads them. */
static bool
cron_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Read one value of field f at *s (a number, or a name where f has names)
 * into *value and advance *s; false, with *problem set, if it is not one.
 */
static bool
cron_value(const CronField *f, int fieldno, const char **s, int *value,
		   char **problem)
{
	const char *start = *s;
	const char *p = start;
	bool		digits = true;
	char	   *token;

	while (isalnum((unsigned char) *p))
	{
		if (!isdigit((unsigned char) *p))
			digits = false;
		p++;
	}
	if (p == start)
	{
		*problem = *p ?
			psprintf("field %d (%s) has \"%c\" where a value is expected",
					 fieldno, f->name, *p) :
			psprintf("field %d (%s) ends where a value is expected",
					 fieldno, f->name);
		return false;
	}
	token = pnstrdup(start, p - start);
	*s = p;
	if (f->names != NULL && !digits)
	{
		for (int i = 0; f->names[i] != NULL; i++)
			if (pg_strcasecmp(token, f->names[i]) == 0)
			{
				*value = f->low + i;
				return true;
			}
	}
	if (!digits || strlen(token) > 4)
	{
		*problem = digits ?
			psprintf("value %s of field %d (%s) is out of range %d-%d",
					 token, fieldno, f->name, f->low, f->high) :
			psprintf("field %d (%s) has \"%s\", which is not a %s",
					 fieldno, f->name, token,
					 f->names ? "number or a name" : "number");
		return false;
	}
	*value = atoi(token);
	if (*value < f->low || *value > f->high)
	{
		*problem = psprintf("value %d of field %d (%s) is out of range %d-%d",
							*value, fieldno, f->name, f->low, f->high);
		return false;
	}
	return true;
}

/*
 * Check one field (its text is s, up to the next blank); false, with
 * *problem set, if it is invalid.
 */
static bool
cron_field(const CronField *f, int fieldno, const char *s, char **problem)
{
	for (;;)
	{
		int			from = f->low;
		int			to = f->high;
		bool		range = false;

		if (*s == '*')
		{
			s++;
			range = true;
		}
		else
		{
			if (!cron_value(f, fieldno, &s, &from, problem))
				return false;
			to = from;
			if (*s == '-')
			{
				s++;
				if (!cron_value(f, fieldno, &s, &to, problem))
					return false;
				if (to < from)
				{
					*problem = psprintf("range %d-%d of field %d (%s) is empty",
										from, to, fieldno, f->name);
					return false;
				}
				range = true;
			}
		}
		if (*s == '/')
		{
			const char *step = ++s;

			if (!range)
			{
				*problem = psprintf("a step in field %d (%s) needs \"*\" or a range before it, as in */n or a-b/n",
									fieldno, f->name);
				return false;
			}
			while (isdigit((unsigned char) *s))
				s++;
			if (s == step || s - step > 4 || atoi(step) == 0)
			{
				*problem = psprintf("step of field %d (%s) must be a positive number",
									fieldno, f->name);
				return false;
			}
		}
		if (*s == ',')
		{
			s++;
			continue;
		}
		if (*s == '\0' || cron_is_blank(*s))
			return true;
		*problem = psprintf("field %d (%s) has \"%c\" where a comma or a blank is expected",
							fieldno, f->name, *s);
		return false;
	}
}

/*
 * Syntax that newer pg_cron versions accept and this check does not know
 * in detail: an interval "N second(s)" (1-59, pg_cron 1.5), or "$" in the
 * day of month (the last day, pg_cron 1.5).  pg_cron judges those.
 */
static bool
cron_newer_syntax(const char *s, int nfields, char **fields)
{
	char	   *end;
	long		n = strtol(s, &end, 10);

	if (end != s && n >= 1 && n <= 59)
	{
		while (cron_is_blank(*end))
			end++;
		if (pg_strncasecmp(end, "second", 6) == 0)
			return true;
	}
	return nfields == 5 && strchr(fields[2], '$') != NULL;
}

/*
 * lh_cron_check
 *		Is schedule a valid pg_cron expression?  If not, *problem says what
 *		is wrong, as a sentence fragment ("field 3 (day of month) ...").
 */
bool
lh_cron_check(const char *schedule, char **problem)
{
	char	   *copy = pstrdup(schedule);
	char	   *s = copy;
	char	   *fields[6];
	int			nfields = 0;

	while (cron_is_blank(*s))
		s++;
	if (*s == '\0')
	{
		*problem = pstrdup("the schedule is empty");
		return false;
	}
	if (*s == '@')
	{
		char	   *end = s + 1 + strcspn(s + 1, " \t");

		while (cron_is_blank(*end))
			*end++ = '\0';
		for (int i = 0; cron_nicknames[i] != NULL; i++)
			if (strcmp(s + 1, cron_nicknames[i]) == 0 && *end == '\0')
				return true;
		*problem = psprintf("\"%s\" is not a nickname pg_cron knows", s);
		return false;
	}
	while (*s != '\0')
	{
		if (nfields == lengthof(fields))
			break;
		fields[nfields++] = s;
		while (*s != '\0' && !cron_is_blank(*s))
			s++;
		while (cron_is_blank(*s))
			s++;
	}
	if (cron_newer_syntax(copy, nfields, fields))
		return true;
	if (nfields != 5)
	{
		*problem = psprintf("the schedule has %s%d fields; a cron schedule has 5",
							nfields == lengthof(fields) ? "more than " : "",
							nfields == lengthof(fields) ? 5 : nfields);
		return false;
	}
	for (int i = 0; i < 5; i++)
		if (!cron_field(&cron_fields[i], i + 1, fields[i], problem))
			return false;
	return true;
}
