package console

import "strings"

// diffLine is one line of a line diff: Op is "=", "-" (only in the old
// text) or "+" (only in the new).
type diffLine struct {
	Op   string
	Text string
}

// maxDiffCells bounds the LCS table (lines × lines); larger texts are not
// compared line by line.
const maxDiffCells = 1 << 20

// lineDiff compares two texts line by line (longest common subsequence).
// ok is false when they are too long to compare.
func lineDiff(a, b string) (out []diffLine, ok bool) {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	if (len(x)+1)*(len(y)+1) > maxDiffCells {
		return nil, false
	}
	// lcs[i][j]: length of the LCS of x[i:] and y[j:].
	lcs := make([][]int32, len(x)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(y)+1)
	}
	for i := len(x) - 1; i >= 0; i-- {
		for j := len(y) - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		switch {
		case x[i] == y[j]:
			out = append(out, diffLine{"=", x[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{"-", x[i]})
			i++
		default:
			out = append(out, diffLine{"+", y[j]})
			j++
		}
	}
	for ; i < len(x); i++ {
		out = append(out, diffLine{"-", x[i]})
	}
	for ; j < len(y); j++ {
		out = append(out, diffLine{"+", y[j]})
	}
	return out, true
}
