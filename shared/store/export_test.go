package store

// CountSearchSteps has the counts with q from now on price an index entry
// at share of a walked row (countSearch's entryShare) and report each step
// they take to step, until restore is called.
func CountSearchSteps(share float64, step func(int)) (restore func()) {
	oldShare, oldStep := entryShare, countStep
	entryShare, countStep = share, step
	return func() { entryShare, countStep = oldShare, oldStep }
}
