package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMicroTile calls every tile kernel of every set that has them (rows
// of w = 2..maxTileW pixels, several rows' accumulators at once) through
// the microkernel tester: Pix = w, Rows 0 (read as 1) to 2*3+1 (every
// block of 1..3 rows, alone and after whole blocks), windows 1x1, 1x3,
// 2x2, 3x3 (over 1-2 input blocks) and 5x5 (one input block, 1, 2 and
// 5 rows; 1x1 for the 1x1 kernels), at every stride pair of microSD; the general kernels also
// with EdgeL, EdgeR or both on every row, EdgeT and EdgeB of every count
// to maxTileEdge the window allows (with and without the column edges),
// and with a prefetch range; residual and ReLU on and
// off (the prefetch where a call takes three tap steps or more). The
// tester spaces the rows apart with poisoned input and guarded
// output gaps, so a row addressed through the wrong base fails.
func TestMicroTile(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 13))
	n := 0
	for _, set := range microSets() {
		if set.isaSet.tile == nil {
			continue
		}
		for _, ocb := range set.ocbs {
			for _, sd := range microSD {
				for _, pw := range []bool{false, true} {
					for w := 2; w <= maxTileW; w++ {
						k := set.tileFor(set.block, ocb, sd[0], sd[1], w, pw)
						if k == nil {
							continue
						}
						n++
						windows := [][2]int{{1, 1}, {1, 3}, {2, 2}, {3, 3}, {5, 5}}
						if pw {
							windows = windows[:1]
						}
						t.Run(fmt.Sprintf("%s/o%d_s%d_d%d_pw%v_w%d", set.name, ocb, sd[0], sd[1], pw, w), func(t *testing.T) {
							for _, win := range windows {
								// Column edges (left, right), then row edges (top,
								// bottom: every count up to maxTileEdge the window
								// leaves a tap row for) with and without them.
								edges := [][4]int{{0, 0, 0, 0}}
								if win[1] >= 2 {
									edges = append(edges, [4]int{1, 0, 0, 0}, [4]int{0, 1, 0, 0}, [4]int{1, 1, 0, 0})
								}
								for et := 0; et <= min(maxTileEdge, win[0]-1); et++ {
									for eb := 0; eb <= min(maxTileEdge, win[0]-1); eb++ {
										if et+eb == 0 {
											continue
										}
										edges = append(edges, [4]int{0, 0, et, eb})
										if win[1] >= 2 {
											edges = append(edges, [4]int{(et + eb) % 2, (et+eb)%2 ^ 1, et, eb}, [4]int{1, 1, et, eb})
										}
									}
								}
								for icb := 1; icb <= 2 && icb*win[0]*win[1] <= 25; icb++ {
									for rows := 0; rows <= 7; rows++ {
										if win[0] == 5 && rows != 0 && rows != 2 && rows != 5 {
											continue // 1, 2 and 3+2 rows (2+2+1 where blocks hold two)
										}
										for _, e := range edges {
											// A row keeps a tap row; two rows skip none twice.
											if max(rows, 1) == 1 && e[2]+e[3] >= win[0] || rows > 1 && e[2]+e[3] > win[0] {
												continue
											}
											flags := r.IntN(8)
											steps := icb * win[0] * win[1] * ((max(rows, 1) + 2) / 3)
											microCase{b: set.block, ocb: ocb, icb: icb, kh: win[0], kw: win[1], pix: w, sp: sd[0], dp: sd[1],
												rows: rows, edgeL: e[0], edgeR: e[1], edgeT: e[2], edgeB: e[3], res: flags&1 == 1, relu: flags&2 == 2,
												prefetch: set.Prefetch && !pw && flags&4 == 4 && steps >= 3, tile: true}.check(t, r, k)
										}
									}
								}
							}
						})
					}
				}
			}
		}
	}
	t.Logf("%d tile kernels", n)
}
