module github.com/stackwave/stackwave

go 1.26.0
