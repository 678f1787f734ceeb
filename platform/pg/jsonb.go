package pg

// Limits of numbers in JSON stored as jsonb. jsonb keeps numbers as
// PostgreSQL numeric, which holds at most 16383 digits after the decimal
// point, and writes every number out in full when the value is read back
// (1e9999 reads as 10000 digits): an exponent is bounded per number, and the
// growth of all numbers together is bounded too.
const (
	MaxJSONBNumberDigits    = 16383     // one number, written out in full
	MaxJSONBNumberExpansion = 256 << 10 // all numbers: digits written out beyond their own length
)

// Problems JSONBProblem reports, phrased for a client.
const (
	jsonbNUL          = `strings must not contain \u0000`
	jsonbSurrogate    = `strings must not contain an unpaired UTF-16 surrogate escape such as \ud800`
	jsonbNumberDigits = "numbers must not have more than 16383 digits written out in full"
	jsonbNumberGrowth = "numbers written out in full must not add more than 256 KiB"
)

// JSONBProblem returns the first thing in valid JSON text b that
// PostgreSQL's jsonb refuses or inflates, as a message a client can act on,
// or "" when b can be stored: the escape \u0000, an unpaired UTF-16
// surrogate escape (both refused by jsonb in a UTF-8 database), a number
// numeric cannot hold, or numbers that grow past the limits above when read
// back. It walks b once and does not allocate. Storing such text would fail
// the INSERT — a 500, and with it every other row of the transaction.
func JSONBProblem(b []byte) string {
	inString, expansion := false, 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				if i+5 < len(b) && b[i+1] == 'u' {
					switch r := hex4(b[i+2 : i+6]); {
					case r == 0:
						return jsonbNUL
					case r >= 0xD800 && r <= 0xDBFF && i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u' &&
						hex4(b[i+8:i+12]) >= 0xDC00 && hex4(b[i+8:i+12]) <= 0xDFFF:
						i += 11 // a surrogate pair: one character
						continue
					case r >= 0xD800 && r <= 0xDFFF:
						return jsonbSurrogate
					}
				}
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			end, digits := jsonNumber(b, i)
			if digits > MaxJSONBNumberDigits {
				return jsonbNumberDigits
			}
			if expansion += max(digits-(end-i), 0); expansion > MaxJSONBNumberExpansion {
				return jsonbNumberGrowth
			}
			i = end - 1
		}
	}
	return ""
}

// jsonNumber lexes the JSON number starting at b[i]: where it ends, and how
// many digits it has written out without an exponent, as numeric does.
func jsonNumber(b []byte, i int) (end, digits int) {
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' }
	j := i
	if b[j] == '-' {
		j++
	}
	intDigits, fracDigits, exp := 0, 0, 0
	for ; j < len(b) && isDigit(b[j]); j++ {
		intDigits++
	}
	if j < len(b) && b[j] == '.' {
		for j++; j < len(b) && isDigit(b[j]); j++ {
			fracDigits++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		neg := j < len(b) && b[j] == '-'
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		for ; j < len(b) && isDigit(b[j]); j++ {
			if exp < 1<<30 { // saturate far beyond any limit
				exp = exp*10 + int(b[j]-'0')
			}
		}
		if neg {
			exp = -exp
		}
	}
	return j, max(intDigits+exp, 1) + max(fracDigits-exp, 0)
}

// hex4 decodes four hex digits, or returns -1.
func hex4(h []byte) int {
	r := 0
	for _, c := range h {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | int(c-'A'+10)
		default:
			return -1
		}
	}
	return r
}
