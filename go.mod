module github.com/sbconv/sbconv

go 1.26.0
