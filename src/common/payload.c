/*-------------------------------------------------------------------------
 *
 * payload.c
 *	  Checks of raw source records that every source makes before parsing
 *	  them: valid UTF-8, and JSON that the recursive parser can survive.
 *
 * A record that fails a check is dead-lettered with the reason these
 * functions give; nothing here raises an error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "lakehouse.h"

/*
 * lh_check_utf8
 *		Is s (len bytes) valid UTF-8 without zero bytes?  If not, *reason
 *		says where it goes wrong.
 */
bool
lh_check_utf8(const char *s, int len, char **reason)
{
	int			valid = pg_encoding_verifymbstr(PG_UTF8, s, len);

	if (valid == len)
		return true;
	if (s[valid] == '\0')
		*reason = psprintf("invalid byte sequence for encoding \"UTF8\": 0x00 at byte %d",
						   valid + 1);
	else
		*reason = psprintf("invalid byte sequence for encoding \"UTF8\": 0x%02x at byte %d",
						   (unsigned char) s[valid], valid + 1);
	return false;
}

/*
 * lh_json_too_deep
 *		Does the JSON text nest arrays and objects deeper than
 *		LH_MAX_JSON_DEPTH?  The parser would run out of stack on it, an
 *		error no batch can get past, so such records are dead-lettered
 *		before parsing.
 */
bool
lh_json_too_deep(const char *s, int len)
{
	int			depth = 0;
	bool		in_string = false;

	if (len <= LH_MAX_JSON_DEPTH)
		return false;
	for (int i = 0; i < len; i++)
	{
		char		c = s[i];

		if (in_string)
		{
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		}
		else if (c == '"')
			in_string = true;
		else if (c == '[' || c == '{')
		{
			if (++depth > LH_MAX_JSON_DEPTH)
				return true;
		}
		else if (c == ']' || c == '}')
			depth--;
	}
	return false;
}
