package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"

	"sigs.k8s.io/yaml"
)

// outputFormats are the values of -o.
const outputFormats = "text, json or yaml"

// outputFlag is -o: text, json or yaml; anything else is refused when
// the command line is parsed.
type outputFlag string

func (o *outputFlag) String() string { return string(*o) }

func (o *outputFlag) Set(s string) error {
	switch s {
	case "text", "json", "yaml":
		*o = outputFlag(s)
		return nil
	}
	return fmt.Errorf("want %s", outputFormats)
}

// addOutputFlag defines -o (--output) on fs.
func addOutputFlag(fs *flag.FlagSet) *string {
	o := outputFlag("text")
	fs.Var(&o, "o", "output format: "+outputFormats)
	return (*string)(&o)
}

// writeCompactJSON writes v as JSON on one line.
func writeCompactJSON(env *cliEnv, v any) int {
	enc := json.NewEncoder(env.stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		env.errorf("%v", err)
		return exitFailed
	}
	return exitOK
}

// writeOutput writes v as JSON or YAML (the JSON form's fields, in
// YAML) to stdout and returns the exit code.
func writeOutput(env *cliEnv, format string, v any) int {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		env.errorf("%v", err)
		return codeOf(err)
	}
	data := buf.Bytes()
	if format == "yaml" {
		y, err := yaml.JSONToYAML(data)
		if err != nil {
			env.errorf("%v", err)
			return codeOf(err)
		}
		data = y
	}
	if _, err := env.stdout.Write(data); err != nil {
		env.errorf("%v", err)
		return codeOf(err)
	}
	return exitOK
}
