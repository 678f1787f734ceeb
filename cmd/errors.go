package cmd

import (
	"errors"
	"strings"

	"github.com/signalops/signalops/platform/apperr"
)

// describe turns an application error into one clear line for the terminal.
func describe(err error) error {
	e, ok := apperr.As(err)
	if !ok {
		return err
	}
	var b strings.Builder
	b.WriteString(e.Detail)
	for _, f := range e.Fields {
		b.WriteString(" " + f.Field + ": " + f.Message + ".")
	}
	return errors.New(b.String())
}
