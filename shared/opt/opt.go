// Package opt models a field of a partial update (PATCH), which can be
// absent, present as JSON null, or present with a value.
package opt

// Value is one field of a partial update.
type Value[T any] struct {
	Set  bool // the field was in the request
	Null bool // it was JSON null
	V    T    // its value when Set and not Null
}

// Of returns a set, non-null value.
func Of[T any](v T) Value[T] { return Value[T]{Set: true, V: v} }

// Null returns a value set to null.
func Null[T any]() Value[T] { return Value[T]{Set: true, Null: true} }

// Ptr returns the value as a pointer: nil for null or absent.
func (o Value[T]) Ptr() *T {
	if !o.Set || o.Null {
		return nil
	}
	v := o.V
	return &v
}

// Apply returns what the field becomes: cur when absent, nil when null.
func (o Value[T]) Apply(cur *T) *T {
	if !o.Set {
		return cur
	}
	return o.Ptr()
}
