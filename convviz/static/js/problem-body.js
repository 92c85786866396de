// The request body of the problem on screen: the URL's shapes, value kind and seed, with the
// values the user typed into cells applied on top of the generated arrays.

export class ProblemBody {
  constructor(postJSON) {
    this.postJSON = postJSON;
    this.baseArrays = new Map(); // generated arrays per problem, the base that edits apply to
  }

  // body: the generated problem; edits: Map "tensor|i,j,k,l" -> value.
  async build(body, edits) {
    if (!edits.size) return body;
    const key = JSON.stringify(body);
    if (!this.baseArrays.has(key)) {
      const solved = await this.postJSON("/api/v1/conv?im2col=false", body);
      this.baseArrays.set(key, JSON.stringify({ x: solved.x, w: solved.w, b: solved.b, grad_out: solved.grad_out }));
    }
    const arrays = JSON.parse(this.baseArrays.get(key));
    for (const [cell, value] of edits) {
      const [tensor, idx] = cell.split("|");
      setIn(arrays[tensor], idx, value);
    }
    return { ...arrays, stride: body.stride, padding: body.padding, dilation: body.dilation };
  }
}

function setIn(nested, idx, value) {
  const path = idx.split(",").map(Number);
  let a = nested;
  for (const i of path.slice(0, -1)) a = a[i];
  a[path[path.length - 1]] = value;
}
