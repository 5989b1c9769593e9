package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
)

// Bounds of a route's when condition. maxConditionLen is the CRD's
// MaxLength (characters); conditionCostLimit bounds one evaluation, so a
// condition over a large claim cannot take the API's time.
const (
	maxConditionLen    = 1024
	conditionCostLimit = 100_000
	conditionInterrupt = 100 // comprehension iterations between checks of the request context
	conditionRecursion = 32  // parser nesting depth
)

// Condition is a compiled, type-checked when expression of a route.
type Condition struct {
	Source string
	prg    cel.Program
}

// conditionEnv declares what a condition sees: the verified token's claims
// (any JSON value), the request's method and path (decoded), and the path
// pattern's wildcards.
var conditionEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("method", cel.StringType),
		cel.Variable("path", cel.StringType),
		cel.Variable("params", cel.MapType(cel.StringType, cel.StringType)),
		cel.ParserRecursionLimit(conditionRecursion),
		cel.ParserExpressionSizeLimit(maxConditionLen),
	)
})

// compileCondition parses and type-checks src; the error says where it
// fails, in the expression's own line:column.
func compileCondition(src string) (*Condition, error) {
	if n := len([]rune(src)); n > maxConditionLen {
		return nil, fmt.Errorf("is %d characters long; at most %d", n, maxConditionLen)
	}
	env, err := conditionEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(src)
	if iss.Err() != nil {
		var msgs []string
		for _, e := range iss.Errors() {
			msgs = append(msgs, fmt.Sprintf("%d:%d: %s", e.Location.Line(), e.Location.Column()+1, e.Message))
		}
		return nil, fmt.Errorf("does not compile: %s", strings.Join(msgs, "; "))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("must be a boolean expression, is %s", ast.OutputType())
	}
	prg, err := env.Program(ast,
		cel.CostLimit(conditionCostLimit),
		cel.InterruptCheckFrequency(conditionInterrupt),
	)
	if err != nil {
		return nil, fmt.Errorf("does not compile: %w", err)
	}
	return &Condition{Source: src, prg: prg}, nil
}

var errConditionResult = errors.New("condition did not evaluate to a boolean")

// Eval evaluates the condition for one request. An error (a missing claim,
// a wrong type, the cost limit, a cancelled request) is not a pass: the
// caller refuses.
func (c *Condition) Eval(ctx context.Context, claims map[string]any, method, path string, params map[string]string) (bool, error) {
	if claims == nil {
		claims = map[string]any{}
	}
	if params == nil {
		params = map[string]string{}
	}
	out, _, err := c.prg.ContextEval(ctx, map[string]any{
		"claims": claims, "method": method, "path": path, "params": params,
	})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, errConditionResult
	}
	return b, nil
}

// patternParams returns the wildcard names of a ServeMux path pattern:
// "/timesheets/{id}/{rest...}" has id and rest; {$} is none.
func patternParams(path string) []string {
	var names []string
	for _, seg := range strings.Split(path, "/") {
		if len(seg) < 2 || seg[0] != '{' || seg[len(seg)-1] != '}' {
			continue
		}
		if name := strings.TrimSuffix(seg[1:len(seg)-1], "..."); name != "$" && name != "" {
			names = append(names, name)
		}
	}
	return names
}
