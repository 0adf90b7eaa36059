/** `text` cut to `width` characters from the left, marked with "...". */
export function shorten(text: string, width: number): string {
  return text.length <= width ? text : `...${text.slice(text.length - width + 3)}`;
}
