package console

import (
	"strconv"
	"time"
)

// chart is an SVG bar chart of events per day, laid out on the server: no
// script, nothing inline for the CSP to refuse, and a table of the same
// numbers beside it for screen readers.
type chart struct {
	Width, Height int
	Bars          []bar
	Ticks         []tick // horizontal grid lines with their labels
	Labels        []tick // day labels under the bars
	Max           int64
	Total         int64
	BaseY         int
}

type bar struct {
	X, Y, W, H int
	Date       string
	Count      int64
	Today      bool
}

type tick struct {
	X, Y  int
	Label string
}

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartW      = 960
	chartH      = 240
	chartLeft   = 48
	chartRight  = 8
	chartTop    = 10
	chartBottom = 24
)

// newChart lays out one bar per day. today (UTC date) is marked.
func newChart(days []struct {
	Date  string `json:"date"`
	Count int64  `json:"count"`
}, today string) chart {
	c := chart{Width: chartW, Height: chartH, BaseY: chartH - chartBottom}
	for _, d := range days {
		c.Total += d.Count
		c.Max = max(c.Max, d.Count)
	}
	top := niceCeil(c.Max)
	plotH := chartH - chartTop - chartBottom
	if len(days) == 0 {
		return c
	}
	step := (chartW - chartLeft - chartRight) / len(days)
	for i, d := range days {
		h := int(d.Count * int64(plotH) / top)
		if d.Count > 0 && h == 0 {
			h = 1 // a day with events is never invisible
		}
		x := chartLeft + i*step
		c.Bars = append(c.Bars, bar{X: x + 1, Y: c.BaseY - h, W: max(step-2, 1), H: h, Date: d.Date, Count: d.Count, Today: d.Date == today})
		if day := i + 1; day == 1 || day%5 == 0 {
			c.Labels = append(c.Labels, tick{X: x + step/2, Y: chartH - 8, Label: strconv.Itoa(day)})
		}
	}
	for i := 0; i <= 4; i++ {
		v := top * int64(i) / 4
		c.Ticks = append(c.Ticks, tick{X: chartLeft - 6, Y: c.BaseY - int(v*int64(plotH)/top), Label: compact(v)})
	}
	return c
}

// niceCeil is the chart's top: four grid steps of 1, 2, 2.5 or 5 times a
// power of ten, whole numbers, reaching at least n.
func niceCeil(n int64) int64 {
	if n <= 4 {
		return 4
	}
	need := (n + 3) / 4
	for p := int64(1); ; p *= 10 {
		for _, m := range []int64{10, 20, 25, 50} {
			if m*p%10 == 0 && m*p/10 >= need {
				return 4 * m * p / 10
			}
		}
	}
}

// compact writes 1200 as 1.2k and 3000000 as 3M.
func compact(n int64) string {
	switch {
	case n >= 1_000_000:
		return trimZero(float64(n)/1_000_000) + "M"
	case n >= 1_000:
		return trimZero(float64(n)/1_000) + "k"
	}
	return strconv.FormatInt(n, 10)
}

func trimZero(f float64) string {
	s := strconv.FormatFloat(f, 'f', 1, 64)
	if len(s) > 2 && s[len(s)-2:] == ".0" {
		return s[:len(s)-2]
	}
	return s
}

// utcToday is today's UTC date as the API writes it.
func utcToday() string { return time.Now().UTC().Format(time.DateOnly) }
