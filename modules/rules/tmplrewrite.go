package rules

import (
	"strconv"
	"text/template/parse"
)

// Rewriting. Every field access (.payload.orderId, $x.a, (pipe).b) becomes
// a call to _get, which never fails: an absent key, or a key on something
// that is not an object, gives a missing value (nil), and JSON null gives
// null (a typed nil that prints "null"). Every action that prints gets a
// final "| _show <its text>" that prints a missing value as a marker naming
// the action. Every range body starts with {{_tick}}, which counts
// iterations against the budget.

func rewriteList(l *parse.ListNode) {
	if l == nil {
		return
	}
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			name := truncate(n.Pipe.String(), 100)
			rewritePipe(n.Pipe)
			if len(n.Pipe.Decl) == 0 {
				n.Pipe.Cmds = append(n.Pipe.Cmds, command(n.Pos, identifier("_show", n.Pos), stringNode(name, n.Pos)))
			}
		case *parse.IfNode:
			rewriteBranch(&n.BranchNode)
		case *parse.WithNode:
			rewriteBranch(&n.BranchNode)
		case *parse.RangeNode:
			rewriteBranch(&n.BranchNode)
			n.Pipe.Cmds = append(n.Pipe.Cmds, command(n.Pos, identifier("_iter", n.Pos)))
			tick := &parse.ActionNode{NodeType: parse.NodeAction, Pos: n.Pos, Line: n.Line,
				Pipe: pipe(n.Pos, command(n.Pos, identifier("_tick", n.Pos)))}
			if n.List == nil {
				n.List = &parse.ListNode{NodeType: parse.NodeList, Pos: n.Pos}
			}
			n.List.Nodes = append([]parse.Node{tick}, n.List.Nodes...)
		}
	}
}

func rewriteBranch(b *parse.BranchNode) {
	rewritePipe(b.Pipe)
	rewriteList(b.List)
	rewriteList(b.ElseList)
}

func rewritePipe(p *parse.PipeNode) {
	if p == nil {
		return
	}
	for _, c := range p.Cmds {
		for i, arg := range c.Args {
			c.Args[i] = rewriteArg(arg)
		}
	}
}

func rewriteArg(n parse.Node) parse.Node {
	switch n := n.(type) {
	case *parse.FieldNode:
		return getCall(n.Pos, &parse.DotNode{NodeType: parse.NodeDot, Pos: n.Pos}, n.Ident)
	case *parse.VariableNode:
		if len(n.Ident) > 1 {
			v := &parse.VariableNode{NodeType: parse.NodeVariable, Pos: n.Pos, Ident: n.Ident[:1]}
			return getCall(n.Pos, v, n.Ident[1:])
		}
	case *parse.ChainNode:
		return getCall(n.Pos, rewriteArg(n.Node), n.Field)
	case *parse.PipeNode:
		rewritePipe(n)
	}
	return n
}

// getCall builds (_get recv "k1" "k2" …).
func getCall(pos parse.Pos, recv parse.Node, keys []string) *parse.PipeNode {
	args := []parse.Node{identifier("_get", pos), recv}
	for _, k := range keys {
		args = append(args, stringNode(k, pos))
	}
	return pipe(pos, command(pos, args...))
}

func pipe(pos parse.Pos, cmds ...*parse.CommandNode) *parse.PipeNode {
	return &parse.PipeNode{NodeType: parse.NodePipe, Pos: pos, Cmds: cmds}
}

func command(pos parse.Pos, args ...parse.Node) *parse.CommandNode {
	return &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos, Args: args}
}

func identifier(name string, pos parse.Pos) *parse.IdentifierNode {
	return parse.NewIdentifier(name).SetPos(pos)
}

func stringNode(s string, pos parse.Pos) *parse.StringNode {
	return &parse.StringNode{NodeType: parse.NodeString, Pos: pos, Quoted: strconv.Quote(s), Text: s}
}
