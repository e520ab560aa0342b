"""Proxy fidelity: how well a proxy's scores rank NB201 architectures by their trained accuracy.

One study per module, all behind `hwevrsnas fidelity STUDY`:

- `full`: every proxy of some complete score tables over all isomorphism classes, with precision at the top and the
  proxy-oracle regret (what a perfect search on the proxy would return);
- `replicates`: one proxy's complete tables at several proxy seeds: how much of its ranking is the draw;
- `sample`: proxy variants scored live on a stratified sample of classes (the workflow's fidelity study);
- `paper_sample`: the faithful `paper` preset on a random sample, beside `quick` and the zero-cost proxies.
"""
