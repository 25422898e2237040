package hsm_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A program outside this module cannot import an internal/ package, so it
// cannot name a type of one: an exported alias of such a type, or an
// exported signature or field that mentions one, is a part of hsm's API that
// users can call but never write down (declare a variable of, implement,
// pass through their own functions). These tests read hsm's source, so that
// they need nothing but the standard library and see exactly what the
// package declares.

// internalRefs returns, for one parsed file, every reference in expr to a
// package whose import path has an internal/ element, as "pkg.Name".
func internalRefs(imports map[string]string, expr ast.Node) []string {
	var out []string
	ast.Inspect(expr, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok {
			if path, ok := imports[id.Name]; ok && isInternal(path) {
				out = append(out, id.Name+"."+sel.Sel.Name+" ("+path+")")
			}
		}
		return true
	})
	return out
}

func isInternal(path string) bool {
	return strings.HasPrefix(path, "internal/") || strings.Contains(path, "/internal/") || strings.HasSuffix(path, "/internal")
}

// fileImports maps the names a file gives its imports to their paths.
func fileImports(f *ast.File) map[string]string {
	m := map[string]string{}
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			continue
		}
		name := filepath.Base(path)
		if imp.Name != nil {
			name = imp.Name.Name
		}
		m[name] = path
	}
	return m
}

// packageFiles parses the package's non-test Go files in dir.
func packageFiles(t *testing.T, dir string) (*token.FileSet, []*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		files = append(files, f)
	}
	require.NotEmpty(t, files)
	return fset, files
}

// TestNoExportedAliasOfInternalType: no exported type of hsm is declared as
// an alias (type X = pkg.Y) of a type of an internal package.
func TestNoExportedAliasOfInternalType(t *testing.T) {
	fset, files := packageFiles(t, ".")
	aliases := 0
	for _, f := range files {
		imports := fileImports(f)
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, s := range gd.Specs {
				ts := s.(*ast.TypeSpec)
				if !ts.Assign.IsValid() || !ts.Name.IsExported() {
					continue
				}
				aliases++
				for _, ref := range internalRefs(imports, ts.Type) {
					assert.Failf(t, "exported alias of an internal type", "%s: type %s = %s", fset.Position(ts.Pos()), ts.Name.Name, ref)
				}
			}
		}
	}
	// hsm has aliases of the public ck vocabulary: the test looked at them.
	assert.NotZero(t, aliases)
}

// TestExportedAPIMentionsNoInternalPackage: the exported functions, the
// methods of exported types, the fields of exported structs and the
// exported variables and constants of hsm mention no type of an internal
// package, so that everything a caller passes or gets back can be named.
func TestExportedAPIMentionsNoInternalPackage(t *testing.T) {
	fset, files := packageFiles(t, ".")
	for _, f := range files {
		imports := fileImports(f)
		report := func(what string, pos token.Pos, n ast.Node) {
			for _, ref := range internalRefs(imports, n) {
				assert.Failf(t, "exported API mentions an internal package", "%s: %s: %s", fset.Position(pos), what, ref)
			}
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() || (d.Recv != nil && !exportedReceiver(d.Recv)) {
					continue
				}
				report("func "+d.Name.Name, d.Pos(), d.Type)
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() || s.Assign.IsValid() {
							continue // aliases: TestNoExportedAliasOfInternalType
						}
						report("type "+s.Name.Name, s.Pos(), exportedParts(s.Type))
					case *ast.ValueSpec:
						for _, name := range s.Names {
							if name.IsExported() && s.Type != nil {
								report(name.Name, name.Pos(), s.Type)
							}
						}
					}
				}
			}
		}
	}
}

// exportedReceiver reports whether a method's receiver is an exported type.
func exportedReceiver(recv *ast.FieldList) bool {
	if len(recv.List) == 0 {
		return false
	}
	typ := recv.List[0].Type
	for {
		switch x := typ.(type) {
		case *ast.StarExpr:
			typ = x.X
		case *ast.IndexExpr:
			typ = x.X
		case *ast.IndexListExpr:
			typ = x.X
		case *ast.Ident:
			return x.IsExported()
		default:
			return false
		}
	}
}

// exportedParts returns what callers see of a type declaration: for a
// struct, its exported fields (and embedded types); for an interface, its
// methods; otherwise the whole type.
func exportedParts(typ ast.Expr) ast.Node {
	st, ok := typ.(*ast.StructType)
	if !ok {
		return typ
	}
	var visible ast.FieldList
	for _, fld := range st.Fields.List {
		if len(fld.Names) == 0 {
			visible.List = append(visible.List, fld)
			continue
		}
		for _, n := range fld.Names {
			if n.IsExported() {
				visible.List = append(visible.List, fld)
				break
			}
		}
	}
	return &visible
}

// TestExamplesUsePublicAPI: every Example function in the module is in an
// external test package (package x_test) and imports no internal package,
// so that it shows code a user can copy into their own module. Examples of
// internal packages themselves are exempt.
func TestExamplesUsePublicAPI(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"), "hsm is one level below the module root")
	examples := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			base := d.Name()
			if path != root && (strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_") || base == "testdata" || base == "vendor" || isInternal(rel)) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		var names []string
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "Example") {
				names = append(names, fd.Name.Name)
			}
		}
		if len(names) == 0 {
			return nil
		}
		examples += len(names)
		assert.True(t, strings.HasSuffix(f.Name.Name, "_test"), "%s: %v are in package %s, not an external test package", rel, names, f.Name.Name)
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			assert.False(t, isInternal(path), "%s: %v import %s, which no user can", rel, names, path)
		}
		return nil
	})
	require.NoError(t, err)
	assert.NotZero(t, examples)
}
