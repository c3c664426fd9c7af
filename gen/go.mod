module github.com/sbconv/sbconv/gen

go 1.26.0

require (
	github.com/mmcloughlin/avo v0.5.0
	github.com/sbconv/sbconv v0.0.0-00010101000000-000000000000
)

require (
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/tools v0.52.0 // indirect
)

replace github.com/sbconv/sbconv => ../
