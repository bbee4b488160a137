// Command kstatus-health reads Kubernetes objects (a JSON array on stdin, as read from the API
// server) and prints, for each, what GitOps tools would make of it: the kstatus verdict
// (sigs.k8s.io/cli-utils/pkg/kstatus/status, which Flux's health checks use) and the result of the
// Argo CD Lua health check shipped in the chart (run with gopher-lua, the interpreter Argo CD
// embeds). Output: a JSON array, one entry per object, in input order.
//
//	kstatus-health -lua-dir charts/smart-chaos/files/health < objects.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Verdict is what the tools say about one object.
type Verdict struct {
	Kind           string `json:"kind"`
	Name           string `json:"name"`
	KStatus        string `json:"kstatus"`
	KStatusMessage string `json:"kstatusMessage"`
	Argo           string `json:"argo"`
	ArgoMessage    string `json:"argoMessage"`
}

func main() {
	luaDir := flag.String("lua-dir", "", "folder of Argo CD health checks named <kind, lower case>.lua")
	flag.Parse()
	if err := run(*luaDir, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kstatus-health:", err)
		os.Exit(1)
	}
}

func run(luaDir string, in io.Reader, out io.Writer) error {
	var objects []json.RawMessage
	if err := json.NewDecoder(in).Decode(&objects); err != nil {
		return fmt.Errorf("reading objects: %w", err)
	}
	verdicts := make([]Verdict, 0, len(objects))
	for i, raw := range objects {
		// Unstructured's own decoder keeps integers as int64, as kstatus expects.
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return fmt.Errorf("object %d: %w", i, err)
		}
		result, err := status.Compute(u)
		if err != nil {
			return fmt.Errorf("kstatus of %s/%s: %w", u.GetKind(), u.GetName(), err)
		}
		v := Verdict{
			Kind:           u.GetKind(),
			Name:           u.GetName(),
			KStatus:        result.Status.String(),
			KStatusMessage: result.Message,
		}
		if luaDir != "" {
			script := filepath.Join(luaDir, strings.ToLower(u.GetKind())+".lua")
			v.Argo, v.ArgoMessage, err = argoHealth(script, u.Object)
			if err != nil {
				return fmt.Errorf("Argo CD health of %s/%s: %w", u.GetKind(), u.GetName(), err)
			}
		}
		verdicts = append(verdicts, v)
	}
	encoder := json.NewEncoder(out)
	encoder.SetIndent("", "  ")
	return encoder.Encode(verdicts)
}

// argoHealth runs a health check the way Argo CD does: the object as the global `obj`, the
// script's return value a table with `status` and `message`.
func argoHealth(script string, object map[string]interface{}) (string, string, error) {
	state := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer state.Close()
	// The libraries Argo CD opens for health scripts.
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		state.Push(state.NewFunction(lib.open))
		state.Push(lua.LString(lib.name))
		state.Call(1, 0)
	}
	state.SetGlobal("obj", toLua(state, object))
	if err := state.DoFile(script); err != nil {
		return "", "", err
	}
	table, ok := state.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("%s returned %s, not a table", script, state.Get(-1).Type())
	}
	return lua.LVAsString(table.RawGetString("status")), lua.LVAsString(table.RawGetString("message")), nil
}

// toLua converts decoded JSON into Lua values: objects and arrays become tables (arrays
// 1-based, so ipairs works), numbers stay numbers.
func toLua(state *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []interface{}:
		table := state.NewTable()
		for _, item := range v {
			table.Append(toLua(state, item))
		}
		return table
	case map[string]interface{}:
		table := state.NewTable()
		for key, item := range v {
			table.RawSetString(key, toLua(state, item))
		}
		return table
	default:
		return lua.LString(fmt.Sprint(v))
	}
}
