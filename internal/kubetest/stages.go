package kubetest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// kwokStages reads the stage definitions that build.sh copied from the kwok
// module and returns them with every pod stage except deletion restricted to
// pods without ManualStatusAnnotation=ManualStatusValue. kwok then leaves the
// status of such pods to the test, but still completes their deletion, so
// deleting them (or their namespace or owner) does not leave them
// terminating forever.
func kwokStages(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var out bytes.Buffer
	restricted := 0
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var stage map[string]any
		if err := yaml.Unmarshal(doc, &stage); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if stage == nil {
			continue
		}
		if restrictPodStage(stage) {
			restricted++
		}
		b, err := yaml.Marshal(stage)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(b)
	}
	if restricted == 0 {
		return nil, fmt.Errorf("%s: no pod stage to exempt %s pods from", path, ManualStatusAnnotation)
	}
	return out.Bytes(), nil
}

// restrictPodStage adds the manual-status exemption to a pod stage that does
// not delete the pod, and reports whether it did.
func restrictPodStage(stage map[string]any) bool {
	spec, _ := stage["spec"].(map[string]any)
	ref, _ := spec["resourceRef"].(map[string]any)
	if stage["kind"] != "Stage" || ref["kind"] != "Pod" {
		return false
	}
	if next, _ := spec["next"].(map[string]any); next["delete"] == true {
		return false
	}
	selector, _ := spec["selector"].(map[string]any)
	if selector == nil {
		selector = map[string]any{}
		spec["selector"] = selector
	}
	exprs, _ := selector["matchExpressions"].([]any)
	selector["matchExpressions"] = append(exprs, map[string]any{
		"key":      ".metadata.annotations[" + strconv.Quote(ManualStatusAnnotation) + "]",
		"operator": "NotIn",
		"values":   []any{ManualStatusValue},
	})
	return true
}
