/** How the planner writes shares in its labels and reports. */
export const percent = (share: number) => `${(share * 100).toFixed(1)}%`;
