// The request body of the problem on screen: the URL's shapes, value kind and seed, with the
// values the user typed into cells applied on top of the generated arrays (and the loss, its
// target and the update step's rates carried over).

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
      this.baseArrays.set(key, JSON.stringify({ x: solved.x, w: solved.w, b: solved.b, grad_out: solved.grad_out,
        target: solved.target }));
    }
    const arrays = JSON.parse(this.baseArrays.get(key));
    for (const [cell, value] of edits) {
      const [tensor, idx] = cell.split("|");
      setIn(arrays[tensor], idx, value);
    }
    const { grad_out: gradOut, target, ...inputs } = arrays;
    const loss = body.loss || "none";
    // a loss makes grad_out itself: then it is not sent (an edit of it has nothing to change)
    // the layer's settings of issue 9 (groups, padding_mode, transposed, output_padding) as the body has them
    const layer = Object.fromEntries(["groups", "padding_mode", "transposed", "output_padding"]
      .filter((k) => body[k] !== undefined).map((k) => [k, body[k]]));
    return { ...inputs, ...(loss === "none" ? { grad_out: gradOut } : { loss }), ...(target ? { target } : {}),
      stride: body.stride, padding: body.padding, dilation: body.dilation, lr: body.lr, weight_decay: body.weight_decay,
      ...layer };
  }
}

function setIn(nested, idx, value) {
  const path = idx.split(",").map(Number);
  let a = nested;
  for (const i of path.slice(0, -1)) a = a[i];
  a[path[path.length - 1]] = value;
}
